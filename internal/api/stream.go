package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/broker"
	"github.com/chathooks/chathooks/internal/chat"
)

// KeepAlive is how often an idle stream sends a comment (and refreshes presence).
const KeepAlive = 15 * time.Second

type streamIn struct {
	ID          string `path:"id" doc:"room id"`
	LastEventID string `header:"Last-Event-ID" doc:"resume after this event (the SSE id)"`
	UserID      string `query:"user_id" doc:"the user watching: present while the stream is open; messages of users they block are left out"`
}

// Subscriber is the live side of the broker. A subscription told it lagged (events
// dropped, or written by another node) catches up from the store.
type Subscriber interface {
	Subscribe(room string) *broker.Sub
}

// StreamGate, when the Subscriber implements it, bounds the live streams of the process:
// OpenStream reserves a place (ok false when none is left) and release gives it back.
type StreamGate interface {
	OpenStream() (release func(), ok bool)
}

func (h *Handlers) registerStream(api huma.API) {
	op := Op("stream-room", http.MethodGet, "/rooms/{id}/stream", "Live stream of a room's events (Server-Sent Events)", "rooms")
	op.Description = "Each SSE message has `id` = the room's event sequence number, `event` = the event type and `data` = the event JSON. Reconnect with `Last-Event-ID` to resume exactly after the last event seen."
	op.Responses = map[string]*huma.Response{"200": {
		Description: "text/event-stream of the room's events",
		Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}},
	}}
	huma.Register(api, op, func(ctx context.Context, in *streamIn) (*huma.StreamResponse, error) {
		if h.sub == nil {
			return nil, NewError(chat.CodeUnavailable, "live streams are not available")
		}
		last := int64(-1)
		if in.LastEventID != "" {
			n, err := strconv.ParseInt(in.LastEventID, 10, 64)
			if err != nil || n < 0 {
				return nil, NewError(chat.CodeInvalidArgument, "Last-Event-ID must be a non-negative integer")
			}
			last = n
		}
		leave := func() {}
		if g, ok := h.sub.(StreamGate); ok {
			r, ok := g.OpenStream()
			if !ok {
				return nil, NewError(chat.CodeUnavailable, "this server has as many live streams open as it allows; retry later or on another node")
			}
			leave = r
		}
		// Subscribe before reading the room's position, so nothing committed in between is
		// missed: buffered events at or before the position are skipped.
		sub := h.sub.Subscribe(in.ID)
		room, err := h.svc.GetRoom(ctx, in.ID)
		if err != nil {
			sub.Close()
			leave()
			return nil, h.fail(ctx, err)
		}
		if last < 0 {
			last = room.LastEventID
		}
		release := func() {}
		if in.UserID != "" {
			r, err := h.svc.OpenStream(ctx, in.UserID)
			if err != nil {
				sub.Close()
				leave()
				return nil, h.fail(ctx, err)
			}
			release = r
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			defer leave()
			defer release()
			defer sub.Close()
			h.stream(hctx, in, sub, last)
		}}, nil
	})
}

func (h *Handlers) stream(hctx huma.Context, in *streamIn, sub *broker.Sub, last int64) {
	ctx := hctx.Context()
	w := hctx.BodyWriter()
	rc := http.NewResponseController(w.(http.ResponseWriter))
	_ = rc.SetWriteDeadline(time.Time{}) // streams outlive the server's write timeout
	hctx.SetHeader("Content-Type", "text/event-stream")
	hctx.SetHeader("Cache-Control", "no-store")
	hctx.SetHeader("X-Accel-Buffering", "no")
	hctx.SetStatus(http.StatusOK)
	buf := make([]byte, 0, 1024)
	send := func(e chat.Event) bool {
		data, err := json.Marshal(e)
		if err != nil {
			return false
		}
		buf = buf[:0]
		buf = append(buf, "id: "...)
		buf = strconv.AppendInt(buf, e.RoomSeq, 10)
		buf = append(buf, "\nevent: "...)
		buf = append(buf, e.Type...)
		buf = append(buf, "\ndata: "...)
		buf = append(buf, data...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		last = e.RoomSeq
		return true
	}
	// hiddenIn returns which of evs the watching user does not see (see Service.HiddenFrom);
	// a hidden event is skipped, its id still counted as seen.
	hiddenIn := func(evs []chat.Event) (map[string]bool, bool) {
		hide, err := h.svc.HiddenFrom(ctx, in.UserID, evs)
		if err != nil {
			h.warn(ctx, "stream blocks", err)
			return nil, false
		}
		return hide, true
	}
	// catchUp sends every stored event after last.
	catchUp := func() bool {
		for {
			evs, err := h.svc.Store().RoomEventsAfter(ctx, in.ID, last, 500)
			if err != nil {
				h.warn(ctx, "stream catch-up", err)
				return false
			}
			hide, ok := hiddenIn(evs)
			if !ok {
				return false
			}
			for _, e := range evs {
				if hide[e.ID] {
					last = e.RoomSeq
					continue
				}
				if !send(e) {
					return false
				}
			}
			if len(evs) < 500 {
				return rc.Flush() == nil
			}
		}
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	if !catchUp() {
		return
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done(): // shutting down: end the response; the client resumes elsewhere
			return
		case <-tick.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
			if in.UserID != "" {
				if err := h.svc.RefreshStream(ctx, in.UserID); err != nil {
					h.warn(ctx, "refresh stream presence", err)
				}
			}
		case <-sub.Wake():
			evs, lagged := sub.Take()
			if lagged {
				if !catchUp() {
					return
				}
				continue
			}
			hide, ok := hiddenIn(evs)
			if !ok {
				return
			}
			for _, e := range evs {
				switch {
				case e.RoomSeq <= last:
					continue
				case hide[e.ID] && e.RoomSeq == last+1:
					last = e.RoomSeq
				case e.RoomSeq > last+1:
					// A gap (events committed out of order across nodes): read them in order.
					if !catchUp() {
						return
					}
				default:
					if !send(e) {
						return
					}
				}
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// warn logs a stream's failed read, unless the stream ended (the client went away or the
// server is stopping): a read cut short by that is not a fault.
func (h *Handlers) warn(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	h.log.WarnContext(ctx, msg, "error", err)
}
