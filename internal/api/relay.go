package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type previewIn struct {
	ID   string `path:"id" doc:"endpoint id"`
	Body *struct {
		EventID   string        `json:"event_id,omitempty" doc:"a stored event"`
		EventType string        `json:"event_type,omitempty" doc:"a sample event of this type"`
		Event     *previewEvent `json:"event,omitempty" doc:"an event given here"`
	}
}

type previewEvent struct {
	Type    string          `json:"type"`
	RoomID  string          `json:"room_id,omitempty"`
	Payload json.RawMessage `json:"payload" doc:"the event's data (GET /event-types has its schema)"`
}

// registerPreview registers the chat-target preview: what an endpoint would post for an
// event, rendered without sending.
func registerPreview(api huma.API, svc *chat.Deliveries, fail func(context.Context, error) error) {
	huma.Register(api, Op("preview-endpoint", http.MethodPost, "/endpoints/{id}/preview",
		"Render what a chat-format endpoint would post for an event (a stored one, a given one, or a sample), without sending", "endpoints"),
		func(ctx context.Context, in *previewIn) (*out[chat.Preview], error) {
			var pi chat.PreviewInput
			if b := in.Body; b != nil {
				pi.EventID, pi.EventType = b.EventID, b.EventType
				if b.Event != nil {
					pi.Event = &chat.Event{Type: b.Event.Type, RoomID: b.Event.RoomID, Payload: b.Event.Payload}
				}
			}
			p, err := svc.PreviewEndpoint(ctx, in.ID, pi)
			if err != nil {
				return nil, fail(ctx, err)
			}
			return &out[chat.Preview]{Body: p}, nil
		})
}
