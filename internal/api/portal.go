package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

// PortalLinkView is a portal link with its signed URL (shown only when created).
type PortalLinkView struct {
	chat.PortalLink
	URL string `json:"url,omitempty" doc:"the signed portal URL; returned only when the link is created"`
}

type portalLinkBody struct {
	ExpiresInS int  `json:"expires_in_s,omitempty" minimum:"0" maximum:"2592000" doc:"lifetime in seconds (default 86400, at most 30 days)"`
	Agent      bool `json:"agent,omitempty" doc:"cover every endpoint of this endpoint's agent, not only this endpoint"`
}

type createEndpointPortalLinkIn struct {
	ID   string `path:"id" doc:"endpoint id"`
	Body *portalLinkBody
}

type createAgentPortalLinkIn struct {
	ID   string `path:"id" doc:"agent user id"`
	Body *struct {
		ExpiresInS int `json:"expires_in_s,omitempty" minimum:"0" maximum:"2592000" doc:"lifetime in seconds (default 86400, at most 30 days)"`
	}
}

type portalLinkPath struct {
	ID string `path:"id" doc:"portal link id"`
}

type testEventIn struct {
	ID   string `path:"id" doc:"endpoint id"`
	Body *struct {
		EventType string `json:"event_type,omitempty" doc:"which event type's example to send (default group_channel:message_send)"`
	}
}

// EventExample is one entry of the event catalog with an example of its data.
type EventExample struct {
	Type    string         `json:"type"`
	Schema  map[string]any `json:"schema"`
	Example any            `json:"example" doc:"an example of the event's data"`
}

// RegisterPortal registers the test-event and portal-link operations. linkURL turns a new
// link into its signed URL.
func RegisterPortal(api huma.API, svc *chat.Deliveries, log *slog.Logger, linkURL func(chat.PortalLink) string) {
	if svc == nil {
		return
	}
	fail := func(ctx context.Context, err error) error { return Fail(ctx, log, err) }
	view := func(l chat.PortalLink) *out[PortalLinkView] {
		return &out[PortalLinkView]{Body: PortalLinkView{PortalLink: l, URL: linkURL(l)}}
	}
	huma.Register(api, Created(Op("send-test-event", http.MethodPost, "/endpoints/{id}/test",
		"Send an example event to this endpoint only, through the ordinary delivery path", "endpoints")),
		func(ctx context.Context, in *testEventIn) (*out[chat.Delivery], error) {
			var typ string
			if in.Body != nil {
				typ = in.Body.EventType
			}
			d, err := svc.SendTestEvent(ctx, in.ID, typ)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.Delivery]{Body: d}, nil
		})
	const tag = "portal"
	huma.Register(api, Created(Op("create-endpoint-portal-link", http.MethodPost, "/endpoints/{id}/portal-links",
		"Create an expiring, signed, revocable link to the owners' portal of this endpoint (or of every endpoint of its agent)", tag)),
		func(ctx context.Context, in *createEndpointPortalLinkIn) (*out[PortalLinkView], error) {
			var b portalLinkBody
			if in.Body != nil {
				b = *in.Body
			}
			l, err := svc.CreatePortalLink(ctx, in.ID, b.Agent, time.Duration(b.ExpiresInS)*time.Second)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return view(l), nil
		})
	huma.Register(api, Created(Op("create-agent-portal-link", http.MethodPost, "/users/{id}/portal-links",
		"Create an expiring, signed, revocable link to the owners' portal of every endpoint of an agent", tag)),
		func(ctx context.Context, in *createAgentPortalLinkIn) (*out[PortalLinkView], error) {
			var ttl time.Duration
			if in.Body != nil {
				ttl = time.Duration(in.Body.ExpiresInS) * time.Second
			}
			l, err := svc.CreateAgentPortalLink(ctx, in.ID, ttl)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return view(l), nil
		})
	huma.Register(api, Op("list-portal-links", http.MethodGet, "/portal-links", "List portal links, newest first (without their URLs)", tag),
		func(ctx context.Context, _ *struct{}) (*out[List[chat.PortalLink]], error) {
			ls, err := svc.ListPortalLinks(ctx)
			if err != nil {
				return nil, fail(ctx, err)
			}
			if ls == nil {
				ls = []chat.PortalLink{}
			}
			return &out[List[chat.PortalLink]]{Body: List[chat.PortalLink]{Items: ls}}, nil
		})
	huma.Register(api, NoContent(Op("revoke-portal-link", http.MethodDelete, "/portal-links/{id}", "Revoke a portal link at once", tag)),
		func(ctx context.Context, in *portalLinkPath) (*struct{}, error) {
			if err := svc.RevokePortalLink(ctx, in.ID); err != nil {
				return nil, fail(ctx, err)
			}
			return nil, nil
		})
}

// EventExamples is the event catalog with an example of each type's data.
func EventExamples(now time.Time) []EventExample {
	cat := EventCatalog()
	out := make([]EventExample, len(cat))
	for i, c := range cat {
		out[i] = EventExample{Type: c.Type, Schema: c.Schema, Example: chat.ExamplePayload(c.Type, now)}
	}
	return out
}
