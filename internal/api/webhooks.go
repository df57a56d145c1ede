package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

// WebhookURLs are the four dialect URLs of one incoming webhook; all carry the
// same token.
type WebhookURLs struct {
	Chime      string `json:"chime" doc:"Amazon Chime: {base}/incomingwebhooks/{id}?token={token}"`
	GoogleChat string `json:"google_chat" doc:"Google Chat: {base}/v1/spaces/{room_id}/messages?key={id}&token={token}"`
	Slack      string `json:"slack" doc:"Slack: {base}/services/{room_id}/{id}/{token}"`
	Mattermost string `json:"mattermost" doc:"Mattermost: {base}/hooks/{token}"`
}

// Webhook is an incoming webhook as the API shows it. The token is stored only hashed, so
// token and urls are present only in the answers to create and regenerate.
type Webhook struct {
	ID        string       `json:"id"`
	RoomID    string       `json:"room_id"`
	Name      string       `json:"name"`
	AvatarURL string       `json:"avatar_url"`
	Token     string       `json:"token,omitempty" doc:"the secret token; returned only by create and regenerate (it is stored hashed)"`
	URLs      *WebhookURLs `json:"urls,omitempty" doc:"the dialect URLs; returned only by create and regenerate (they contain the token)"`
	CreatedAt time.Time    `json:"created_at"`
}

// WebhookURLsFor builds the dialect URLs of a webhook from the public base URL.
func WebhookURLsFor(base string, w chat.Webhook, token string) WebhookURLs {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	id, room, tq := url.PathEscape(w.ID), url.PathEscape(w.RoomID), url.QueryEscape(token)
	return WebhookURLs{
		Chime:      base + "/incomingwebhooks/" + id + "?token=" + tq,
		GoogleChat: base + "/v1/spaces/" + room + "/messages?key=" + url.QueryEscape(w.ID) + "&token=" + tq,
		Slack:      base + "/services/" + room + "/" + id + "/" + url.PathEscape(token),
		Mattermost: base + "/hooks/" + url.PathEscape(token),
	}
}

func webhookView(w chat.Webhook) Webhook {
	return Webhook{ID: w.ID, RoomID: w.RoomID, Name: w.Name, AvatarURL: w.AvatarURL, CreatedAt: w.CreatedAt}
}

type createWebhookIn struct {
	ID   string `path:"id" doc:"room id"`
	Body struct {
		Name      string `json:"name" maxLength:"256" doc:"shown as \"<name> (Webhook)\""`
		AvatarURL string `json:"avatar_url,omitempty" maxLength:"1024" doc:"http(s) URL of the sender's avatar"`
	}
	host string
}

// Resolve keeps the request's Host: without a configured base URL the dialect URLs are
// built from it.
func (in *createWebhookIn) Resolve(ctx huma.Context) []error { in.host = ctx.Host(); return nil }

type regenerateWebhookIn struct {
	ID   string `path:"id" doc:"webhook id"`
	host string
}

// Resolve keeps the request's Host (see createWebhookIn.Resolve).
func (in *regenerateWebhookIn) Resolve(ctx huma.Context) []error { in.host = ctx.Host(); return nil }

type webhookPath struct {
	ID string `path:"id" doc:"webhook id"`
}

// RegisterWebhooks registers the incoming-webhook management operations.
// baseURL gives the public base URL the dialect URLs are built from, given the Host the
// request was sent to.
func RegisterWebhooks(api huma.API, svc *chat.Service, log *slog.Logger, baseURL func(requestHost string) string) {
	withToken := func(w chat.Webhook, tok, host string) *out[Webhook] {
		v := webhookView(w)
		v.Token = tok
		u := WebhookURLsFor(baseURL(host), w, tok)
		v.URLs = &u
		return &out[Webhook]{Body: v}
	}
	const tag = "incoming webhooks"
	huma.Register(api, Created(Op("create-webhook", http.MethodPost, "/rooms/{id}/webhooks",
		"Create an incoming webhook (at most 10 per room); the answer is the only time the token is shown besides regenerate", tag)),
		func(ctx context.Context, in *createWebhookIn) (*out[Webhook], error) {
			w, tok, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: in.ID, Name: in.Body.Name, AvatarURL: in.Body.AvatarURL})
			if err != nil {
				return nil, Fail(ctx, log, err)
			}
			return withToken(w, tok, in.host), nil
		})
	huma.Register(api, Op("list-webhooks", http.MethodGet, "/rooms/{id}/webhooks", "List a room's incoming webhooks (without tokens)", tag),
		func(ctx context.Context, in *roomPath) (*out[List[Webhook]], error) {
			ws, err := svc.ListWebhooks(ctx, in.ID)
			if err != nil {
				return nil, Fail(ctx, log, err)
			}
			items := make([]Webhook, len(ws))
			for i, w := range ws {
				items[i] = webhookView(w)
			}
			return &out[List[Webhook]]{Body: List[Webhook]{Items: items}}, nil
		})
	huma.Register(api, Op("get-webhook", http.MethodGet, "/webhooks/{id}", "Get an incoming webhook (without its token, which is stored hashed)", tag),
		func(ctx context.Context, in *webhookPath) (*out[Webhook], error) {
			w, err := svc.GetWebhook(ctx, in.ID)
			if err != nil {
				return nil, Fail(ctx, log, err)
			}
			return &out[Webhook]{Body: webhookView(w)}, nil
		})
	huma.Register(api, Op("regenerate-webhook", http.MethodPost, "/webhooks/{id}/regenerate",
		"Issue a new token; the old URLs answer 404 from now on", tag),
		func(ctx context.Context, in *regenerateWebhookIn) (*out[Webhook], error) {
			w, tok, err := svc.RegenerateWebhook(ctx, in.ID)
			if err != nil {
				return nil, Fail(ctx, log, err)
			}
			return withToken(w, tok, in.host), nil
		})
	huma.Register(api, NoContent(Op("delete-webhook", http.MethodDelete, "/webhooks/{id}", "Delete an incoming webhook; its URLs answer 404 from now on", tag)),
		func(ctx context.Context, in *webhookPath) (*struct{}, error) {
			if err := svc.DeleteWebhook(ctx, in.ID); err != nil {
				return nil, Fail(ctx, log, err)
			}
			return nil, nil
		})
}
