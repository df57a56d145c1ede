package inbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/inbound"
)

// dialectPost is one valid post per dialect.
type dialectPost struct {
	name      string
	url       func(h hook) string
	ct, body  string
	status429 string // the dialect's 429 body marker
	status503 string
}

var dialects = []dialectPost{
	{"chime", func(h hook) string { return h.URLs.Chime }, "application/json", `{"Content":"hi"}`, `"Code":"Throttled"`, `"Code":"ServiceUnavailable"`},
	{"google_chat", func(h hook) string { return h.URLs.GoogleChat }, "application/json", `{"text":"hi"}`, `"status":"RESOURCE_EXHAUSTED"`, `"status":"UNAVAILABLE"`},
	{"slack", func(h hook) string { return h.URLs.Slack }, "application/json", `{"text":"hi"}`, `rate_limited`, `service_unavailable`},
	{"mattermost", func(h hook) string { return h.URLs.Mattermost }, "", `{"text":"hi"}`, `"status_code":429`, `"status_code":503`},
}

// One message per second per room, shared by every webhook of the room, on the injected
// clock: 429 in each dialect's shape with Retry-After, then accepted once time passes.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{FakeClock: true, Config: func(c *app.Config) { c.RoomRateLimit, c.RoomRateBurst = 1, 1 }})
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			room(t, s, "rl-"+d.name)
			a, b := newHook(t, s, "rl-"+d.name, "A"), newHook(t, s, "rl-"+d.name, "B")
			if r := post(t, d.url(a), d.ct, d.body); r.Status != 200 {
				t.Fatalf("first: %d %s", r.Status, r.Body)
			}
			// The same room through another webhook: throttled.
			r := post(t, d.url(b), d.ct, d.body)
			if r.Status != 429 || !strings.Contains(r.Body, d.status429) || r.Header.Get("Retry-After") != "1" {
				t.Fatalf("second: %d %s Retry-After %q", r.Status, r.Body, r.Header.Get("Retry-After"))
			}
			// Another room is not affected.
			room(t, s, "rl2-"+d.name)
			if r := post(t, d.url(newHook(t, s, "rl2-"+d.name, "C")), d.ct, d.body); r.Status != 200 {
				t.Fatalf("other room: %d %s", r.Status, r.Body)
			}
		})
	}
	s.Clock.Advance(time.Second)
	for _, d := range dialects {
		var l struct{ Items []hook }
		s.Must(200, "GET", "/api/v1/rooms/rl-"+d.name+"/webhooks", nil).JSON(t, &l)
		// Tokens are not listed: regenerate to get a URL.
		var h hook
		s.Must(200, "POST", "/api/v1/webhooks/"+l.Items[0].ID+"/regenerate", nil).JSON(t, &h)
		if r := post(t, d.url(h), d.ct, d.body); r.Status != 200 {
			t.Fatalf("%s after a second: %d %s", d.name, r.Status, r.Body)
		}
	}
}

// Idempotency-Key on every dialect: a repeat returns the original success and creates
// nothing, also when the repeats are sent at once (they may share a write batch, or run in
// batches one after the other).
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			room(t, s, "idem-"+d.name)
			h := newHook(t, s, "idem-"+d.name, "I")
			a := post(t, d.url(h), d.ct, d.body, "Idempotency-Key", "k1")
			b := post(t, d.url(h), d.ct, d.body, "Idempotency-Key", "k1")
			c := post(t, d.url(h), d.ct, d.body, "Idempotency-Key", "k2")
			if a.Status != 200 || b.Status != 200 || c.Status != 200 || a.Body != b.Body {
				t.Fatalf("%d %s / %d %s / %d %s", a.Status, a.Body, b.Status, b.Body, c.Status, c.Body)
			}
			if n := len(messages(t, s, "idem-"+d.name)); n != 2 {
				t.Fatalf("%d messages, want 2", n)
			}
			const repeats = 8
			answers := make([]string, repeats)
			var wg sync.WaitGroup
			for i := range repeats {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := post(t, d.url(h), d.ct, d.body, "Idempotency-Key", "k3"); r.Status == 200 {
						answers[i] = r.Body
					}
				}()
			}
			wg.Wait()
			for i, a := range answers {
				if a == "" || a != answers[0] {
					t.Fatalf("repeat %d at once answered %q, the first %q: want the same success", i, a, answers[0])
				}
			}
			if n := len(messages(t, s, "idem-"+d.name)); n != 3 {
				t.Fatalf("%d messages after eight posts at once with one key, want 3", n)
			}
		})
	}
}

// No CORS, ever: a preflight gets no grant and responses carry no Access-Control header.
func TestNoCORS(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "cors")
	h := newHook(t, s, "cors", "C")
	for _, d := range dialects {
		req, _ := http.NewRequest(http.MethodOptions, d.url(h), nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := post(t, d.url(h), d.ct, d.body, "Origin", "https://evil.example")
		for _, hdr := range []http.Header{resp.Header, r.Header} {
			for k := range hdr {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s: %s header sent", d.name, k)
				}
			}
		}
		if resp.StatusCode < 400 {
			t.Errorf("%s: preflight answered %d", d.name, resp.StatusCode)
		}
	}
}

// With the database closed, each dialect answers 503 in its shape, at once.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "down")
	h := newHook(t, s, "down", "D")
	if err := s.App.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dialects {
		r := post(t, d.url(h), d.ct, d.body)
		if r.Status != 503 || !strings.Contains(r.Body, d.status503) {
			t.Errorf("%s: %d %s", d.name, r.Status, r.Body)
		}
	}
}

// While the server shuts down, posts answer 503 in the dialect's shape.
func TestShuttingDown(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "bye")
	h := newHook(t, s, "bye", "B")
	mux := http.NewServeMux()
	ih := inbound.New(inbound.Config{Service: s.App.Service, ShuttingDown: func() bool { return true }})
	mux.HandleFunc("POST /incomingwebhooks/{id}", ih.Chime)
	mux.HandleFunc("POST /v1/spaces/{space}/messages", ih.GoogleChat)
	mux.HandleFunc("POST /services/{room}/{id}/{token}", ih.Slack)
	mux.HandleFunc("POST /hooks/{token}", ih.Mattermost)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, d := range dialects {
		r := post(t, strings.Replace(d.url(h), s.URL, ts.URL, 1), d.ct, d.body)
		if r.Status != 503 || !strings.Contains(r.Body, d.status503) {
			t.Errorf("%s: %d %s", d.name, r.Status, r.Body)
		}
	}
	if n := len(messages(t, s, "bye")); n != 0 {
		t.Fatalf("%d messages posted while shutting down", n)
	}
}

// A webhook message produces group_channel:message_send like any message.
func TestWebhookMessageEvent(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "ev")
	h := newHook(t, s, "ev", "Events")
	r := post(t, h.URLs.Chime, "", `{"Content":"evented"}`)
	id := r.json(t)["MessageId"].(string)
	evs, _, err := s.App.Store.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == "group_channel:message_send" && strings.Contains(string(e.Payload), id) && strings.Contains(string(e.Payload), `"type":"webhook"`) {
			return
		}
	}
	t.Fatalf("no group_channel:message_send event for %s", id)
}
