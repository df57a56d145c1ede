package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type endpointBody struct {
	URL            string            `json:"url" maxLength:"4096" doc:"http(s) URL deliveries are POSTed to; chat formats: the target's incoming-webhook URL (sealed, shown redacted)"`
	Description    string            `json:"description,omitempty" maxLength:"1024"`
	AgentID        string            `json:"agent_id,omitempty" doc:"agent-level endpoint of this agent user; absent: workspace-level"`
	EventTypes     []string          `json:"event_types" doc:"[\"*\"] for every chat event type, or a list (GET /event-types); operational types (endpoint:failing, endpoint:recovered, endpoint:disabled, delivery:dead) only by name"`
	Format         string            `json:"format,omitempty" enum:"standard,sendbird,rbm,slack,mattermost,google_chat,chime" doc:"default standard; slack, mattermost, google_chat and chime post each message into that chat tool"`
	Secret         string            `json:"secret,omitempty" doc:"generated when absent (standard: whsec_ + base64 of 24 bytes); chat formats have none"`
	IncludeMembers bool              `json:"include_members,omitempty" doc:"sendbird: add members[] to group channel payloads"`
	Headers        map[string]string `json:"headers,omitempty" doc:"extra request headers"`
	TimeoutMS      int               `json:"timeout_ms,omitempty" minimum:"0" maximum:"60000" doc:"per attempt (default 5000)"`
	MaxInFlight    int               `json:"max_in_flight,omitempty" minimum:"0" maximum:"1024" doc:"concurrent requests (default 16)"`
	RateLimit      float64           `json:"rate_limit_per_second,omitempty" minimum:"0" doc:"0: unlimited"`
	Retry          *chat.RetryPolicy `json:"retry,omitempty" doc:"overrides the format's retry schedule"`
	RoomIDs        []string          `json:"room_ids,omitempty" maxItems:"100" doc:"only events of these rooms; absent or empty: every room"`
	Template       string            `json:"template,omitempty" maxLength:"16384" doc:"chat formats: Go text/template rendering the JSON body (see docs/relay.md)"`
	MaxHops        int               `json:"max_hops,omitempty" minimum:"0" maximum:"3" doc:"chat formats: relay messages that crossed fewer chathooks relays than this (default 1: relayed messages are not relayed again)"`
	Ordering       string            `json:"ordering,omitempty" enum:"concurrent,fifo" doc:"concurrent (default): up to max_in_flight requests at once; fifo: one at a time in commit order, a failing delivery retried before anything behind it"`
}

type createEndpointIn struct {
	Body endpointBody
}

type patchEndpointIn struct {
	ID   string `path:"id"`
	Body struct {
		URL            *string           `json:"url,omitempty" maxLength:"4096"`
		Description    *string           `json:"description,omitempty" maxLength:"1024"`
		AgentID        *string           `json:"agent_id,omitempty" doc:"\"\" makes the endpoint workspace-level"`
		EventTypes     []string          `json:"event_types,omitempty"`
		IncludeMembers *bool             `json:"include_members,omitempty"`
		Headers        map[string]string `json:"headers,omitempty" doc:"replaces every custom header"`
		TimeoutMS      *int              `json:"timeout_ms,omitempty" minimum:"0" maximum:"60000"`
		MaxInFlight    *int              `json:"max_in_flight,omitempty" minimum:"0" maximum:"1024"`
		RateLimit      *float64          `json:"rate_limit_per_second,omitempty" minimum:"0"`
		Retry          *chat.RetryPolicy `json:"retry,omitempty"`
		Status         *string           `json:"status,omitempty" enum:"active,disabled" doc:"disable or re-enable (rbm endpoints must verify again)"`
		RoomIDs        []string          `json:"room_ids,omitempty" maxItems:"100" doc:"replaces the room scope; [] for every room"`
		Template       *string           `json:"template,omitempty" maxLength:"16384" doc:"\"\" restores the default message"`
		MaxHops        *int              `json:"max_hops,omitempty" minimum:"0" maximum:"3"`
		Ordering       *string           `json:"ordering,omitempty" enum:"concurrent,fifo"`
	}
}

type endpointPath struct {
	ID string `path:"id" doc:"endpoint id"`
}

type rotateIn struct {
	ID   string `path:"id"`
	Body *struct {
		Secret          string `json:"secret,omitempty" doc:"the new secret; generated when absent"`
		ExpireOldAfterS *int   `json:"expire_old_after_s,omitempty" minimum:"0" maximum:"604800" doc:"how long the previous secret keeps signing (default 86400)"`
	}
}

type replayIn struct {
	ID   string `path:"id"`
	Body struct {
		Since time.Time `json:"since" doc:"re-send every matching event created at or after this time"`
	}
}

// ReplayResult is the answer to a replay.
type ReplayResult struct {
	EndpointID string    `json:"endpoint_id"`
	Since      time.Time `json:"since"`
	Deliveries int       `json:"deliveries" doc:"fresh deliveries created (same event ids)"`
}

type listDeliveriesIn struct {
	ID        string `path:"id" doc:"endpoint id"`
	Status    string `query:"status" enum:"pending,succeeded,failed,dead" required:"false"`
	EventType string `query:"event_type" doc:"only deliveries of this event type (a page may then hold fewer items than limit and still have a next_cursor)"`
	PageQuery
}

type deliveryPath struct {
	ID string `path:"id" doc:"delivery id"`
}

// EventType is one entry of the event catalog.
type EventType struct {
	Type   string         `json:"type"`
	Schema map[string]any `json:"schema" doc:"JSON Schema (2020-12) of the event's data"`
}

// RegisterEndpoints registers the outgoing endpoint, delivery and event catalog operations.
// With a nil service (the secret key could not be loaded) only the catalog is served.
func RegisterEndpoints(api huma.API, svc *chat.Deliveries, log *slog.Logger) {
	fail := func(ctx context.Context, err error) error { return Fail(ctx, log, err) }
	catalog := EventCatalog()
	huma.Register(api, Op("list-event-types", http.MethodGet, "/event-types", "List event types with the JSON Schema of their data", "events"),
		func(ctx context.Context, _ *struct{}) (*out[List[EventType]], error) {
			return &out[List[EventType]]{Body: List[EventType]{Items: catalog}}, nil
		})
	if svc == nil {
		return
	}
	const tag = "endpoints"
	huma.Register(api, Created(Op("create-endpoint", http.MethodPost, "/endpoints", "Create an outgoing endpoint (rbm endpoints are verified at once)", tag)),
		func(ctx context.Context, in *createEndpointIn) (*out[chat.EndpointView], error) {
			b := in.Body
			ei := chat.EndpointInput{
				URL: b.URL, Description: b.Description, AgentID: b.AgentID, EventTypes: b.EventTypes, Format: b.Format,
				Secret: b.Secret, IncludeMembers: b.IncludeMembers, Headers: b.Headers, TimeoutMS: b.TimeoutMS,
				MaxInFlight: b.MaxInFlight, RateLimit: b.RateLimit, RoomIDs: b.RoomIDs, Template: b.Template, MaxHops: b.MaxHops,
				Ordering: b.Ordering,
			}
			if b.Retry != nil {
				ei.Retry = *b.Retry
			}
			v, err := svc.CreateEndpoint(ctx, ei)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.EndpointView]{Body: v}, nil
		})
	huma.Register(api, Op("list-endpoints", http.MethodGet, "/endpoints", "List endpoints", tag),
		func(ctx context.Context, in *PageQuery) (*out[List[chat.EndpointView]], error) {
			vs, err := svc.ListEndpoints(ctx, in.Cursor, in.Limit)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return page(vs, in.Limit, func(v chat.EndpointView) string { return v.ID }), nil
		})
	huma.Register(api, Op("get-endpoint", http.MethodGet, "/endpoints/{id}", "Get an endpoint", tag),
		func(ctx context.Context, in *endpointPath) (*out[chat.EndpointView], error) {
			v, err := svc.GetEndpoint(ctx, in.ID)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.EndpointView]{Body: v}, nil
		})
	huma.Register(api, Op("update-endpoint", http.MethodPatch, "/endpoints/{id}", "Change an endpoint", tag),
		func(ctx context.Context, in *patchEndpointIn) (*out[chat.EndpointView], error) {
			b := in.Body
			v, err := svc.UpdateEndpoint(ctx, in.ID, chat.EndpointPatch{
				URL: b.URL, Description: b.Description, AgentID: b.AgentID, EventTypes: b.EventTypes,
				IncludeMembers: b.IncludeMembers, Headers: b.Headers, TimeoutMS: b.TimeoutMS, MaxInFlight: b.MaxInFlight,
				RateLimit: b.RateLimit, Retry: b.Retry, Status: b.Status, RoomIDs: b.RoomIDs, Template: b.Template, MaxHops: b.MaxHops,
				Ordering: b.Ordering,
			})
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.EndpointView]{Body: v}, nil
		})
	huma.Register(api, NoContent(Op("delete-endpoint", http.MethodDelete, "/endpoints/{id}", "Delete an endpoint with its deliveries", tag)),
		func(ctx context.Context, in *endpointPath) (*struct{}, error) {
			if err := svc.DeleteEndpoint(ctx, in.ID); err != nil {
				return nil, fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, Op("verify-endpoint", http.MethodPost, "/endpoints/{id}/verify",
		"Run the RBM verification handshake (409 if the endpoint does not echo the secret)", tag),
		func(ctx context.Context, in *endpointPath) (*out[chat.EndpointView], error) {
			v, err := svc.VerifyEndpoint(ctx, in.ID)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.EndpointView]{Body: v}, nil
		})
	huma.Register(api, Op("rotate-endpoint-secret", http.MethodPost, "/endpoints/{id}/rotate-secret",
		"Replace the secret; the previous one keeps signing during the overlap", tag),
		func(ctx context.Context, in *rotateIn) (*out[chat.EndpointView], error) {
			var secret string
			var overlap *time.Duration
			if in.Body != nil {
				secret = in.Body.Secret
				if in.Body.ExpireOldAfterS != nil {
					d := time.Duration(*in.Body.ExpireOldAfterS) * time.Second
					overlap = &d
				}
			}
			v, err := svc.RotateSecret(ctx, in.ID, secret, overlap)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.EndpointView]{Body: v}, nil
		})
	huma.Register(api, Op("replay-endpoint", http.MethodPost, "/endpoints/{id}/replay",
		"Re-send every matching event since a time (fresh deliveries, same event ids)", tag),
		func(ctx context.Context, in *replayIn) (*out[ReplayResult], error) {
			n, err := svc.Replay(ctx, in.ID, in.Body.Since)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[ReplayResult]{Body: ReplayResult{EndpointID: in.ID, Since: in.Body.Since.UTC(), Deliveries: n}}, nil
		})
	registerPreview(api, svc, fail)
	huma.Register(api, Op("list-deliveries", http.MethodGet, "/endpoints/{id}/deliveries", "List an endpoint's deliveries, newest first", "deliveries"),
		func(ctx context.Context, in *listDeliveriesIn) (*out[List[chat.Delivery]], error) {
			q := chat.DeliveryQuery{EndpointID: in.ID, Status: in.Status, Before: in.Cursor, Limit: in.Limit}
			if in.EventType != "" {
				ds, next, err := svc.ListDeliveriesOfType(ctx, q, in.EventType)
				if err != nil {
					return nil, fail(ctx, err)
				}
				return &out[List[chat.Delivery]]{Body: List[chat.Delivery]{Items: ds, NextCursor: next}}, nil
			}
			ds, err := svc.ListDeliveries(ctx, q)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return page(ds, in.Limit, func(d chat.Delivery) string { return d.ID }), nil
		})
	huma.Register(api, Op("get-delivery", http.MethodGet, "/deliveries/{id}", "Get a delivery with every attempt", "deliveries"),
		func(ctx context.Context, in *deliveryPath) (*out[chat.DeliveryDetail], error) {
			d, err := svc.GetDelivery(ctx, in.ID)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.DeliveryDetail]{Body: d}, nil
		})
	huma.Register(api, Op("retry-delivery", http.MethodPost, "/deliveries/{id}/retry", "Attempt a delivery again now (dead ones included)", "deliveries"),
		func(ctx context.Context, in *deliveryPath) (*out[chat.Delivery], error) {
			d, err := svc.RetryDelivery(ctx, in.ID)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.Delivery]{Body: d}, nil
		})
}

// PayloadType returns the Go type of an event type's data (nil for an unknown type).
func PayloadType(eventType string) reflect.Type {
	switch eventType {
	case chat.EventRoomCreate, chat.EventRoomChanged, chat.EventRoomRemove:
		return reflect.TypeFor[chat.RoomPayload]()
	case chat.EventRoomInvite, chat.EventRoomJoin, chat.EventRoomLeave:
		return reflect.TypeFor[chat.MembershipPayload]()
	case chat.EventMessageSend, chat.EventMessageUpdate:
		return reflect.TypeFor[chat.MessagePayload]()
	case chat.EventMessageDelete:
		return reflect.TypeFor[chat.MessageDeletePayload]()
	case chat.EventMessageRead:
		return reflect.TypeFor[chat.ReadPayload]()
	case chat.EventUserBlock, chat.EventUserUnblock:
		return reflect.TypeFor[chat.BlockPayload]()
	case chat.EventEndpointFailing, chat.EventEndpointRecovered, chat.EventEndpointDisabled:
		return reflect.TypeFor[chat.EndpointHealthPayload]()
	case chat.EventDeliveryDead:
		return reflect.TypeFor[chat.DeliveryDeadPayload]()
	}
	return nil
}

// EventCatalog is every event type with a self-contained JSON Schema of its data (nested
// types under $defs).
func EventCatalog() []EventType {
	all := chat.AllEventTypes()
	out := make([]EventType, 0, len(all))
	for _, t := range all {
		out = append(out, EventType{Type: t, Schema: EventSchema(t)})
	}
	return out
}

// EventSchema returns the JSON Schema of an event type's data as a JSON object, nil for an
// unknown type.
func EventSchema(eventType string) map[string]any {
	typ := PayloadType(eventType)
	if typ == nil {
		return nil
	}
	reg := huma.NewMapRegistry("#/$defs/", huma.DefaultSchemaNamer)
	s := reg.Schema(typ, false, eventType)
	m := toMap(s)
	m["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	defs := map[string]any{}
	for name, d := range reg.Map() {
		defs[name] = toMap(d)
	}
	if len(defs) > 0 {
		m["$defs"] = defs
	}
	return m
}

func toMap(s *huma.Schema) map[string]any {
	b, err := json.Marshal(s)
	if err != nil {
		return map[string]any{}
	}
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}
