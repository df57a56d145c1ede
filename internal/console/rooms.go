package console

import (
	"net/http"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// RoomActivity is a room as the console lists it: with the time and type of its latest
// event, its last activity.
type RoomActivity struct {
	chat.Room
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	LastEventType  string     `json:"last_event_type,omitempty"`
}

// MaxListedRooms bounds the console's room list (one small read per room).
const MaxListedRooms = 200

func (c *Console) rooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := c.o.Service.ListRooms(r.Context(), "", MaxListedRooms)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, string(chat.ErrorCode(err)), chat.ErrorMessage(err))
		return
	}
	out := make([]RoomActivity, 0, len(rooms))
	for _, rm := range rooms {
		a := RoomActivity{Room: rm}
		if rm.LastEventID > 0 {
			evs, err := c.o.Service.Store().RoomEventsAfter(r.Context(), rm.ID, rm.LastEventID-1, 1)
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, string(chat.ErrorCode(err)), chat.ErrorMessage(err))
				return
			}
			if len(evs) == 1 {
				t := evs[0].CreatedAt
				a.LastActivityAt, a.LastEventType = &t, evs[0].Type
			}
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}
