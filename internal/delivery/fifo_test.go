package delivery_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	engine "github.com/chathooks/chathooks/internal/delivery"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// texts returns the message texts of the standard-format requests rc got, in arrival
// order, with "!" after those it refused (answered other than 200).
func texts(t *testing.T, rc *receiver, refused func(i int) bool) []string {
	t.Helper()
	var out []string
	for i, h := range rc.all() {
		var b struct {
			Data struct {
				Message struct{ Text string } `json:"message"`
			} `json:"data"`
		}
		if err := jsonUnmarshal(h.Body, &b); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		s := b.Data.Message.Text
		if refused(i) {
			s += "!"
		}
		out = append(out, s)
	}
	return out
}

// downFor answers 503 to the first n requests, then 200.
func downFor(n int32) (func(int, http.ResponseWriter, *http.Request, []byte), func(i int) bool) {
	return func(i int, w http.ResponseWriter, _ *http.Request, _ []byte) {
			if i < int(n) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}, func(i int) bool {
			return i < int(n)
		}
}

// A fifo endpoint whose receiver fails the first message: that message is retried on its
// schedule and nothing behind it is sent until it succeeds; then the rest follow in commit
// order. A concurrent endpoint of the same room gets everything at once meanwhile. Fake
// clock, an hour's re-scan: only the retry schedule and real wake-ups move anything.
func TestFIFOHeadBlocksOnlyItsEndpoint(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	respond, refused := downFor(2)
	fifo := newReceiver(t, respond)
	other := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": fifo.URL, "event_types": []string{chat.EventMessageSend}, "ordering": "fifo"})
	if ep.Ordering != chat.OrderingFIFO || ep.MaxInFlight != 1 {
		t.Fatalf("fifo endpoint: ordering %q, max_in_flight %d", ep.Ordering, ep.MaxInFlight)
	}
	createEndpoint(t, s, map[string]any{"url": other.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 4})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	want := []string{"m1", "m2", "m3", "m4", "m5"}
	for _, m := range want {
		send(t, s, "r", "u", m)
	}
	within(t, 2*time.Second, "every message at the concurrent endpoint", func() bool { return other.count() == len(want) })
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliveryFailed, 1)
	if got := texts(t, fifo, refused); !slices.Equal(got, []string{"m1!"}) {
		t.Fatalf("the fifo endpoint got %v while its head failed, want [m1!]", got)
	}
	advance(s, 10*time.Second) // the first retry (5 s ± 20 %): refused again
	apptest.Eventually(t, 10*time.Second, "the head's first retry", func() bool { return fifo.count() == 2 })
	waitRecorded(t, s, ep.ID, 2)
	advance(s, 10*time.Minute) // the second retry (5 min ± 20 %) succeeds, the rest follow
	apptest.Eventually(t, 10*time.Second, "every message at the fifo endpoint", func() bool { return fifo.count() == 2+len(want) })
	if got := texts(t, fifo, refused); !slices.Equal(got, []string{"m1!", "m1!", "m1", "m2", "m3", "m4", "m5"}) {
		t.Fatalf("the fifo endpoint got %v", got)
	}
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliverySucceeded, len(want))
}

// waitRecorded waits until the endpoint's deliveries record n attempts in all.
func waitRecorded(t *testing.T, s *apptest.Server, endpointID string, n int) {
	t.Helper()
	apptest.Eventually(t, 10*time.Second, fmt.Sprintf("%d attempts recorded", n), func() bool {
		k := 0
		for _, d := range deliveries(t, s, endpointID, "") {
			k += d.AttemptCount
		}
		return k == n
	})
}

// A send of a fifo endpoint's head that panics gives its lease back: the lane gives back
// what waits behind it too and claims everything again in commit order.
func TestFIFOGivenBackHeadStaysFirst(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	var calls atomic.Int32
	posted := make(chan struct{})
	engine.SetSendHook(s.DeliveryEngine(), func(string) {
		if calls.Add(1) == 1 {
			<-posted // the lane holds what follows the head when the head is given back
			panic("injected fault")
		}
	})
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "ordering": "fifo"})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	want := []string{"a", "b", "c", "d"}
	for _, m := range want {
		send(t, s, "r", "u", m)
	}
	apptest.Eventually(t, 10*time.Second, "the lane to hold every message", func() bool {
		return engine.Held(s.DeliveryEngine(), ep.ID) == len(want)
	})
	close(posted)
	apptest.Eventually(t, 10*time.Second, "every message", func() bool { return rc.count() == len(want) })
	if got := texts(t, rc, func(int) bool { return false }); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Switching an endpoint from concurrent to fifo with failed deliveries waiting gives them
// back and claims them again in commit order; switching back keeps delivering.
func TestFIFOOrderingSwitch(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	respond, refused := downFor(4)
	rc := newReceiver(t, respond)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 1})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	for _, m := range []string{"1", "2", "3", "4"} {
		send(t, s, "r", "u", m)
	}
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliveryFailed, 4)
	var v chat.EndpointView
	s.Must(http.StatusOK, "PATCH", "/api/v1/endpoints/"+ep.ID, map[string]any{"ordering": "fifo"}).JSON(t, &v)
	if v.Ordering != chat.OrderingFIFO {
		t.Fatalf("patched ordering %q", v.Ordering)
	}
	send(t, s, "r", "u", "5")
	advance(s, 10*time.Second)
	apptest.Eventually(t, 10*time.Second, "every message after the switch", func() bool { return rc.count() == 9 })
	got := texts(t, rc, refused)
	if !slices.Equal(got[4:], []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("after the switch to fifo: %v", got)
	}
	s.Must(http.StatusOK, "PATCH", "/api/v1/endpoints/"+ep.ID, map[string]any{"ordering": "concurrent"}).JSON(t, &v)
	if v.Ordering != chat.OrderingConcurrent || v.MaxInFlight != 1 {
		t.Fatalf("back to concurrent: %q, max_in_flight %d", v.Ordering, v.MaxInFlight)
	}
	send(t, s, "r", "u", "6")
	apptest.Eventually(t, 10*time.Second, "a message after switching back", func() bool { return rc.count() == 10 })
	r := s.Do("PATCH", "/api/v1/endpoints/"+ep.ID, map[string]any{"ordering": "lifo"})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("unknown ordering: %d %s", r.Status, r.Body)
	}
}

// Two nodes on one PostgreSQL database post into a room of a fifo endpoint in turn: the
// receiver gets every message once, in the order they were committed, whichever node
// wrote and sent each.
func TestFIFOAcrossNodes(t *testing.T) {
	t.Parallel()
	if os.Getenv(apptest.BackendEnv) != "postgres" {
		t.Skip("needs CHATHOOKS_TEST_BACKEND=postgres")
	}
	url := pgtest.URL(t)
	node := func() *apptest.Server {
		return apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.DatabaseURL = url }})
	}
	a, b := node(), node()
	respond, refused := downFor(1)
	rc := newReceiver(t, respond)
	createEndpoint(t, a, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "ordering": "fifo",
		"retry": map[string]any{"max_interval_s": 1}})
	mkUser(t, a, "u", "human")
	mkRoom(t, a, "r", "u")
	var want []string
	for i := range 12 {
		m := fmt.Sprint("m", i)
		send(t, []*apptest.Server{a, b}[i%2], "r", "u", m)
		want = append(want, m)
	}
	apptest.Eventually(t, 30*time.Second, "every message", func() bool { return rc.count() == len(want)+1 })
	got := texts(t, rc, refused)
	if got[0] != "m0!" || !slices.Equal(got[1:], want) {
		t.Fatalf("got %s", strings.Join(got, " "))
	}
}
