package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type postMessageIn struct {
	ID             string `path:"id" doc:"room id"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"256" doc:"a repeat returns the original message"`
	Body           struct {
		SenderID string `json:"sender_id"`
		Text     string `json:"text" doc:"Markdown (CommonMark + GFM)"`
		ThreadID string `json:"thread_id,omitempty" doc:"reply in this thread"`
	}
}

type listMessagesIn struct {
	ID       string `path:"id"`
	After    string `query:"after" doc:"messages after this message id"`
	Before   string `query:"before" doc:"messages before this message id"`
	ThreadID string `query:"thread_id" doc:"only this thread"`
	Limit    int    `query:"limit" minimum:"0" maximum:"200" doc:"page size (default 50, at most 200)"`
	Order    string `query:"order" enum:"asc,desc" doc:"asc (default): oldest first, next page with after=<next_cursor>. desc: newest first, older pages with before=<next_cursor>"`
	UserID   string `query:"user_id" doc:"the user reading: messages of users they block are left out"`
}

type messagePath struct {
	ID        string `path:"id"`
	MessageID string `path:"message_id"`
}

type editMessageIn struct {
	ID        string `path:"id"`
	MessageID string `path:"message_id"`
	Body      struct {
		Text string `json:"text"`
	}
}

func (h *Handlers) registerMessages(api huma.API) {
	huma.Register(api, Created(Op("post-message", http.MethodPost, "/rooms/{id}/messages", "Send a message", "messages")),
		func(ctx context.Context, in *postMessageIn) (*out[chat.Message], error) {
			res, err := h.svc.PostMessage(ctx, chat.PostMessage{
				RoomID: in.ID, Sender: chat.Sender{Type: chat.SenderUser, ID: in.Body.SenderID}, Text: in.Body.Text,
				ThreadID: in.Body.ThreadID, IdempotencyScope: "api:" + in.ID, IdempotencyKey: in.IdempotencyKey,
			})
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Message]{Body: res.Message}, nil
		})
	list := Op("list-messages", http.MethodGet, "/rooms/{id}/messages", "List a room's messages, oldest or newest first", "messages")
	list.Description = "Oldest first by default: `?limit=20` is the first 20 messages, and `after=<next_cursor>` the next page. " +
		"`?order=desc&limit=20` is the latest 20, newest first, and `before=<next_cursor>` pages back in time " +
		"(as Slack's conversations.history does). Without `order`, `before` alone gives the last messages before it, oldest first. " +
		"`user_id` reads as that user: the messages of users they block are left out."
	huma.Register(api, list,
		func(ctx context.Context, in *listMessagesIn) (*out[List[chat.Message]], error) {
			ms, err := h.svc.ListMessages(ctx, chat.MessageQuery{
				RoomID: in.ID, After: in.After, Before: in.Before, ThreadID: in.ThreadID, Limit: in.Limit,
				Desc: in.Order == "desc", Viewer: in.UserID,
			})
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return page(ms, in.Limit, func(m chat.Message) string { return m.ID }), nil
		})
	huma.Register(api, Op("get-message", http.MethodGet, "/rooms/{id}/messages/{message_id}", "Get a message", "messages"),
		func(ctx context.Context, in *messagePath) (*out[chat.Message], error) {
			m, err := h.svc.GetMessage(ctx, in.ID, in.MessageID)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Message]{Body: m}, nil
		})
	huma.Register(api, Op("edit-message", http.MethodPatch, "/rooms/{id}/messages/{message_id}", "Edit a message's text", "messages"),
		func(ctx context.Context, in *editMessageIn) (*out[chat.Message], error) {
			m, err := h.svc.EditMessage(ctx, in.ID, in.MessageID, in.Body.Text)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Message]{Body: m}, nil
		})
	huma.Register(api, NoContent(Op("delete-message", http.MethodDelete, "/rooms/{id}/messages/{message_id}", "Delete a message", "messages")),
		func(ctx context.Context, in *messagePath) (*struct{}, error) {
			if err := h.svc.DeleteMessage(ctx, in.ID, in.MessageID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
}
