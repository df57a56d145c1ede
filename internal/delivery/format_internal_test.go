package delivery

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// standardBody writes what encoding/json would for payloads chathooks encodes.
func TestStandardBodyAsEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 17, 4, 5, 123456789, time.FixedZone("x", 3600))
	msg := map[string]any{"room": map[string]any{"id": "r1", "name": "Ops <&> \"team\""},
		"message": map[string]any{"text": "disk 91% on host-42 <b>now</b> \u2028 é 🚀", "mentions": []string{}}}
	payload, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []chat.Event{
		{ID: "evt_1", Type: chat.EventMessageSend, CreatedAt: at, Payload: payload},
		{ID: "evt_2", Type: chat.EventRoomCreate, CreatedAt: at.Truncate(time.Second), Payload: json.RawMessage(`{}`)},
		{ID: "evt_3", Type: "custom:type", CreatedAt: at, Payload: nil},
	} {
		want, err := json.Marshal(struct {
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}{ev.Type, ev.CreatedAt.UTC().Format(time.RFC3339Nano), ev.Payload})
		if err != nil {
			t.Fatal(err)
		}
		got, err := standardBody(&ev)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s (%v)\nwant %s", ev.ID, got, err, want)
		}
	}
}

func BenchmarkStandardBody(b *testing.B) {
	payload, _ := json.Marshal(map[string]any{"room": map[string]any{"id": "bench-000001", "name": "Bench"},
		"message": map[string]any{"id": "msg_01kbx3", "text": "chbench:1; disk usage 91% on host-42:/var, see runbook", "html": "<p>chbench:1; disk usage 91% on host-42:/var, see runbook</p>",
			"sender": map[string]any{"type": "webhook", "id": "wh_1", "name": "Alerts"}, "mentions": []string{}}})
	ev := chat.Event{ID: "evt_1", Type: chat.EventMessageSend, CreatedAt: time.Now(), Payload: payload}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := standardBody(&ev); err != nil {
			b.Fatal(err)
		}
	}
}
