package delivery_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// hit is one request a receiver got.
type hit struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is a real HTTP endpoint on 127.0.0.1. respond decides each answer (n counts
// the requests from 0); nil answers 200.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	hits    []hit
	respond func(n int, w http.ResponseWriter, r *http.Request, body []byte)
}

func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request, body []byte)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{Header: r.Header.Clone(), Body: body, At: time.Now()})
		fn := rc.respond
		rc.mu.Unlock()
		if fn != nil {
			fn(n, w, r, body)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setRespond(fn func(n int, w http.ResponseWriter, r *http.Request, body []byte)) {
	rc.mu.Lock()
	rc.respond = fn
	rc.mu.Unlock()
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

func (rc *receiver) hit(i int) hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits[i]
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func status(code int) func(int, http.ResponseWriter, *http.Request, []byte) {
	return func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(code) }
}

func start(t *testing.T) *apptest.Server {
	return apptest.Start(t, apptest.Options{FakeClock: true})
}

func createEndpoint(t *testing.T, s *apptest.Server, body map[string]any) chat.EndpointView {
	t.Helper()
	var v chat.EndpointView
	s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", body).JSON(t, &v)
	return v
}

func mkUser(t *testing.T, s *apptest.Server, id, kind string) {
	t.Helper()
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": id, "name": "User " + id, "kind": kind})
}

func mkRoom(t *testing.T, s *apptest.Server, id string, members ...string) {
	t.Helper()
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": id, "name": "Room " + id, "member_ids": members})
}

func send(t *testing.T, s *apptest.Server, room, sender, text string) chat.Message {
	t.Helper()
	var m chat.Message
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/messages", map[string]any{"sender_id": sender, "text": text}).JSON(t, &m)
	return m
}

func deliveries(t *testing.T, s *apptest.Server, endpointID, st string) []chat.Delivery {
	t.Helper()
	var l struct{ Items []chat.Delivery }
	q := ""
	if st != "" {
		q = "?status=" + st
	}
	s.Must(http.StatusOK, "GET", "/api/v1/endpoints/"+endpointID+"/deliveries"+q, nil).JSON(t, &l)
	return l.Items
}

func delivery(t *testing.T, s *apptest.Server, id string) chat.DeliveryDetail {
	t.Helper()
	var d chat.DeliveryDetail
	s.Must(http.StatusOK, "GET", "/api/v1/deliveries/"+id, nil).JSON(t, &d)
	return d
}

// waitDelivery polls until the endpoint has n deliveries of the type and they all satisfy ok.
func waitStatus(t *testing.T, s *apptest.Server, endpointID, eventType string, st string, n int) []chat.Delivery {
	t.Helper()
	var got []chat.Delivery
	apptest.Eventually(t, 10*time.Second, fmt.Sprintf("%d %s deliveries of %s to %s", n, st, eventType, endpointID), func() bool {
		got = got[:0]
		for _, d := range deliveries(t, s, endpointID, st) {
			if eventType == "" || d.EventType == eventType {
				got = append(got, d)
			}
		}
		return len(got) >= n
	})
	return got
}

// advance moves the fake clock and pokes the engine.
func advance(s *apptest.Server, d time.Duration) {
	s.Clock.Advance(d)
	s.DeliveryEngine().Poke()
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func sortStrings(s []string) { sort.Strings(s) }
