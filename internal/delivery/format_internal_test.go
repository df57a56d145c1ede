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

// A request's headers are the endpoint's configured ones with the format's content type
// and user agent over them, and each request gets its own copy: what one request adds
// (a signature under a name also configured) reaches neither the endpoint nor the next.
func TestRequestHeadersAreTheEndpointsCopied(t *testing.T) {
	t.Parallel()
	e := chat.Endpoint{ID: "ep", Format: chat.FormatSendbird, Headers: map[string]string{
		"content-type": "text/plain", "user-agent": "mine", "x-team": "ops", "X-Signature": "configured"}}
	ep := &endpoint{Endpoint: e, header: baseHeader(e)}
	h := ep.requestHeader(3)
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "SendBird" || h.Get("X-Team") != "ops" {
		t.Fatalf("headers %v", h)
	}
	h.Add("X-Signature", "sig-1")
	h.Set("X-Team", "changed")
	next := ep.requestHeader(3)
	if got := next.Values("X-Signature"); len(got) != 1 || got[0] != "configured" || next.Get("X-Team") != "ops" {
		t.Fatalf("a request's changes reached the next one: %v", next)
	}
	if got := ep.header.Values("X-Signature"); len(got) != 1 {
		t.Fatalf("a request's changes reached the endpoint: %v", ep.header)
	}
	if ua := baseHeader(chat.Endpoint{Format: chat.FormatStandard}).Get("User-Agent"); ua != "chathooks" {
		t.Fatalf("standard user agent %q", ua)
	}
}
