package inbound

import (
	"context"
	"net/http"

	"github.com/chathooks/chathooks/internal/chat"
)

// ChimeBroadcastMemberLimit: @All/@Present only in rooms of at most 50 members.
const ChimeBroadcastMemberLimit = 50

// chime serves POST /incomingwebhooks/{id}?token=.
func (h *Handler) chime(w http.ResponseWriter, r *http.Request) {
	id, tok := r.PathValue("id"), r.URL.Query().Get("token")
	h.serve(request{
		dialect: "chime", w: w, r: r, reply: chimeReply{},
		auth: func(ctx context.Context) (chat.Webhook, error) {
			if tok == "" {
				return chat.Webhook{}, errorf(KindBadToken, "the webhook URL has no token")
			}
			return h.svc.AuthenticateWebhook(ctx, id, tok)
		},
		parse: func(body []byte, _ chat.Webhook) (chat.PostMessage, error) {
			content, err := ParseChime(body)
			return chat.PostMessage{Text: content, Format: chat.FormatMarkdown, BroadcastMemberLimit: ChimeBroadcastMemberLimit}, err
		},
	})
}

// googleChat serves POST /v1/spaces/{space}/messages?key={id}&token=.
func (h *Handler) googleChat(w http.ResponseWriter, r *http.Request) {
	space, q := r.PathValue("space"), r.URL.Query()
	id, tok := q.Get("key"), q.Get("token")
	h.serve(request{
		dialect: "google_chat", w: w, r: r, reply: googleReply{},
		auth: func(ctx context.Context) (chat.Webhook, error) {
			if id == "" {
				return chat.Webhook{}, errorf(KindUnknownHook, "Requested entity was not found: the key parameter names no webhook.")
			}
			if tok == "" {
				return chat.Webhook{}, errorf(KindBadToken, "Request had invalid authentication credentials: no token.")
			}
			wh, err := h.svc.AuthenticateWebhook(ctx, id, tok)
			if err == nil && wh.RoomID != space {
				return wh, errorf(KindRoomGone, "Requested entity was not found: space %q.", "spaces/"+space)
			}
			return wh, err
		},
		parse: func(body []byte, wh chat.Webhook) (chat.PostMessage, error) {
			m, err := ParseGoogleChat(body, q)
			if err != nil {
				return chat.PostMessage{}, err
			}
			pm := chat.PostMessage{Text: m.Text, Format: chat.FormatGChat, ThreadKey: m.ThreadKey, ReplyOption: m.ReplyOption}
			if m.RequestID != "" {
				if len(m.RequestID) > MaxIdempotencyKey {
					return pm, errorf(KindInvalid, "requestId is longer than %d bytes", MaxIdempotencyKey)
				}
				pm.IdempotencyKey = "request:" + m.RequestID
			}
			replying := m.ReplyOption == chat.ReplyFallbackToNew || m.ReplyOption == chat.ReplyOrFail
			if replying && m.ThreadName != "" {
				sp, thread, ok := ParseThreadName(m.ThreadName)
				switch {
				case ok && sp == wh.RoomID:
					pm.ThreadID = thread
				case m.ReplyOption == chat.ReplyOrFail && m.ThreadKey == "":
					return pm, errorf(KindNotFound, "Requested entity was not found: thread %q.", m.ThreadName)
				}
			}
			return pm, nil
		},
	})
}

// slack serves POST /services/{room}/{id}/{token}.
func (h *Handler) slack(w http.ResponseWriter, r *http.Request) {
	room, id, tok := r.PathValue("room"), r.PathValue("id"), r.PathValue("token")
	h.serve(request{
		dialect: "slack", w: w, r: r, reply: slackReply{},
		auth: func(ctx context.Context) (chat.Webhook, error) {
			wh, err := h.svc.AuthenticateWebhook(ctx, id, tok)
			if err == nil && wh.RoomID != room {
				return wh, errorf(KindRoomGone, "channel_not_found")
			}
			return wh, err
		},
		parse: func(body []byte, _ chat.Webhook) (chat.PostMessage, error) {
			m, err := ParseSlack(r.Header.Get("Content-Type"), body)
			pm := chat.PostMessage{Text: m.Text, Format: chat.FormatSlack}
			if m.ThreadTS != "" && len(m.ThreadTS) <= chat.MaxIDLen {
				// A message id replies in its thread; any other ts names a thread by key,
				// started by its first message.
				pm.ThreadID, pm.ThreadKey, pm.ReplyOption = m.ThreadTS, "slack:"+m.ThreadTS, chat.ReplyFallbackToNew
			}
			return pm, err
		},
	})
}

// mattermost serves POST /hooks/{token}.
func (h *Handler) mattermost(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	h.serve(request{
		dialect: "mattermost", w: w, r: r, reply: mattermostReply{},
		auth: func(ctx context.Context) (chat.Webhook, error) { return h.svc.AuthenticateWebhook(ctx, "", tok) },
		parse: func(body []byte, _ chat.Webhook) (chat.PostMessage, error) {
			m, err := ParseMattermost(r.Header.Get("Content-Type"), body)
			return chat.PostMessage{Text: m.Text, Format: chat.FormatMarkdown}, err
		},
		split: SplitMattermost,
	})
}
