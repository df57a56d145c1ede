package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// A cached message decodes to what the database gives back for it.
func TestThreadCacheMessageEncoding(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 12, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
	edited := created.Add(-time.Hour * 24 * 365 * 60) // before 1970: negative microseconds
	long := string(make([]byte, 300))
	for _, m := range []chat.Message{
		{ID: "msg_1", RoomID: "r", ThreadID: "msg_1", Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh", Name: "Hook"},
			Text: "héllo " + long, Format: "markdown", HTML: "<p>héllo</p>", CreatedAt: created},
		{ID: "msg_2", RoomID: "r", ThreadID: "msg_1", Sender: chat.Sender{Type: chat.SenderUser, ID: "u", Name: "", AvatarURL: "https://a/b.png"},
			Mentions: []chat.Mention{{Type: "all"}, {Type: "user", UserID: "u2"}}, CreatedAt: created, UpdatedAt: &edited, RelayHops: 3},
		{},
	} {
		// As scanMessage reads it: times to the microsecond in UTC, mentions never nil.
		want := m
		if want.Mentions == nil {
			want.Mentions = []chat.Mention{}
		}
		want.CreatedAt = fromMicros(micros(m.CreatedAt))
		if m.UpdatedAt != nil {
			u := fromMicros(micros(*m.UpdatedAt))
			want.UpdatedAt = &u
		}
		if got := decodeMessage(encodeMessage(m)); !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %+v, want %+v", got, want)
		}
	}
}
