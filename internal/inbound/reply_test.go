package inbound

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

// discardWriter is a ResponseWriter that keeps its header map between requests, as
// net/http's does not: only the handler's own costs are measured.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkStepReply encodes the success answers that carry ids: Chime's and Google Chat's.
func BenchmarkStepReply(b *testing.B) {
	m := chat.Message{ID: "msg_01JDX4K3M2N5P6Q7R8S9T0V1W2", RoomID: "bench-0042", ThreadID: "msg_01JDX4K3M2N5P6Q7R8S9T0V1W0"}
	for _, c := range []struct {
		name  string
		reply replier
	}{{"chime", chimeReply{}}, {"google_chat", googleReply{}}} {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.reply.ok(w, m)
			}
		})
	}
}

// The hand-encoded Chime answer is byte for byte what encoding/json writes, and ids that
// need escaping still go through encoding/json.
func TestChimeReplyMatchesEncodingJSON(t *testing.T) {
	for _, m := range []chat.Message{
		{ID: "msg_01JDX4K3M2N5P6Q7R8S9T0V1W2", RoomID: "bench-0042"},
		{ID: "msg_1", RoomID: "a.b:c_d-e"},
		{ID: "msg_1", RoomID: `r"<&>` + "\u2028é"},
		{ID: "", RoomID: ""},
	} {
		w := httptest.NewRecorder()
		chimeReply{}.ok(w, m)
		want, err := json.Marshal(struct {
			MessageID string `json:"MessageId"`
			RoomID    string `json:"RoomId"`
		}{m.ID, m.RoomID})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || w.Body.String() != string(want) || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%+v: %d %q %v, want %q", m, w.Code, w.Body.String(), w.Header(), want)
		}
	}
}

// The hand-encoded Google Chat answer is byte for byte what encoding/json writes, and ids
// that need escaping still go through encoding/json.
func TestGoogleReplyMatchesEncodingJSON(t *testing.T) {
	for _, m := range []chat.Message{
		{ID: "msg_01JDX4K3M2N5P6Q7R8S9T0V1W2", RoomID: "bench-0042", ThreadID: "msg_01JDX4K3M2N5P6Q7R8S9T0V1W0"},
		{ID: "msg_1", RoomID: "a.b:c_d-e", ThreadID: "msg_1"},
		{ID: "msg_1", RoomID: `r"<&>` + "\u2028é", ThreadID: "msg_1"},
		{ID: "msg_1", RoomID: "ops", ThreadID: `t/"x"`},
		{ID: "", RoomID: "", ThreadID: ""},
	} {
		w := httptest.NewRecorder()
		googleReply{}.ok(w, m)
		want, err := json.Marshal(struct {
			Name   string     `json:"name"`
			Thread googleName `json:"thread"`
		}{"spaces/" + m.RoomID + "/messages/" + m.ID, googleName{"spaces/" + m.RoomID + "/threads/" + m.ThreadID}})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || w.Body.String() != string(want) || w.Header().Get("Content-Type") != "application/json; charset=UTF-8" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%+v: %d %q %v, want %q", m, w.Code, w.Body.String(), w.Header(), want)
		}
	}
}
