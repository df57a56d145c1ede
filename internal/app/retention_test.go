package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// lockedBuffer is a bytes.Buffer safe for the server's log writes and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// janitorStore is the service's store with the janitor's writes counted; the first one
// panics when panicFirst is set.
type janitorStore struct {
	chat.Store
	panicFirst bool
	writes     atomic.Int64
}

func (j *janitorStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	if strings.Contains(string(debug.Stack()), "(*App).pruneOnce") {
		if j.writes.Add(1) == 1 && j.panicFirst {
			panic("janitorStore: the janitor's first write")
		}
	}
	return j.Store.Write(ctx, fn)
}

// retentionServer starts a server on a fake clock whose janitor runs every few
// milliseconds with retention, an endpoint receiving message events, and a room to post to.
func retentionServer(t *testing.T, retention time.Duration, js *janitorStore) (s *apptest.Server, endpointID string, logs *lockedBuffer) {
	t.Helper()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	t.Cleanup(recv.Close)
	logs = &lockedBuffer{}
	s = apptest.Start(t, apptest.Options{FakeClock: true, Log: slog.New(slog.NewTextHandler(logs, nil)), Config: func(c *app.Config) {
		c.DeliveryRetention, c.JanitorInterval = retention, 5*time.Millisecond
		c.WrapServiceStore = func(st chat.Store) chat.Store { js.Store = st; return js }
	}})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "r", "member_ids": []string{"alice"}})
	var ep struct{ ID string }
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": recv.URL, "event_types": []string{chat.EventMessageSend}}).JSON(t, &ep)
	return s, ep.ID, logs
}

// postDelivered posts text to room r and waits until the endpoint has a succeeded delivery
// of it; it returns the delivery.
func postDelivered(t *testing.T, s *apptest.Server, endpointID, text string) chat.Delivery {
	t.Helper()
	var m chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": text}).JSON(t, &m)
	var d chat.Delivery
	apptest.Eventually(t, 10*time.Second, "the delivery of "+text, func() bool {
		var l struct{ Items []chat.Delivery }
		s.Must(200, "GET", "/api/v1/endpoints/"+endpointID+"/deliveries?status=succeeded", nil).JSON(t, &l)
		for _, x := range l.Items {
			evs, err := s.Store.EventsByID(context.Background(), []string{x.EventID})
			if err == nil && len(evs) == 1 && strings.Contains(string(evs[0].Payload), m.ID) {
				d = x
				return true
			}
		}
		return false
	})
	return d
}

func eventStored(t *testing.T, s *apptest.Server, id string) bool {
	t.Helper()
	evs, err := s.Store.EventsByID(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs) == 1
}

// The janitor prunes, once the injected clock has moved past the retention, the finished
// delivery and its event, keeps what is younger and every message, logs what it pruned,
// and goes on after a panic in one of its rounds.
func TestJanitorPrunesTheDeliveryLog(t *testing.T) {
	t.Parallel()
	js := &janitorStore{panicFirst: true}
	s, ep, logs := retentionServer(t, 24*time.Hour, js)
	apptest.Eventually(t, 10*time.Second, "a janitor round after the panic", func() bool { return js.writes.Load() >= 3 })
	if !strings.Contains(logs.String(), "janitor panicked") {
		t.Fatalf("the janitor's panic was not logged:\n%s", logs.String())
	}
	old := postDelivered(t, s, ep, "old")
	// Half a day later the old message is replayed: a delivery younger than its event.
	s.Clock.Advance(12 * time.Hour)
	s.Must(200, "POST", "/api/v1/endpoints/"+ep+"/replay", map[string]any{"since": s.Clock.Now().Add(-13 * time.Hour)})
	var replayed chat.Delivery
	apptest.Eventually(t, 10*time.Second, "the replayed delivery", func() bool {
		var l struct{ Items []chat.Delivery }
		s.Must(200, "GET", "/api/v1/endpoints/"+ep+"/deliveries?status=succeeded", nil).JSON(t, &l)
		for _, d := range l.Items {
			if d.EventID == old.EventID && d.ID != old.ID {
				replayed = d
				return true
			}
		}
		return false
	})
	s.Clock.Advance(13 * time.Hour)
	recent := postDelivered(t, s, ep, "recent")
	apptest.Eventually(t, 10*time.Second, "the old delivery and its event to be pruned", func() bool {
		return s.Do("GET", "/api/v1/deliveries/"+old.ID, nil).Status == http.StatusNotFound && !eventStored(t, s, old.EventID)
	})
	apptest.Eventually(t, 10*time.Second, "the log of the pruning", func() bool {
		return strings.Contains(logs.String(), "pruned the delivery log") && strings.Contains(logs.String(), "deliveries=1")
	})
	s.Must(200, "GET", "/api/v1/deliveries/"+recent.ID, nil)
	if !eventStored(t, s, recent.EventID) {
		t.Fatal("the recent delivery's event was pruned")
	}
	var msgs struct{ Items []chat.Message }
	s.Must(200, "GET", "/api/v1/rooms/r/messages", nil).JSON(t, &msgs)
	if len(msgs.Items) != 2 {
		t.Fatalf("messages after pruning: %+v", msgs.Items)
	}
	// The replayed delivery is younger than the cut-off and stays, but its event went with
	// the old delivery: it cannot be retried. The recent one can.
	s.Must(200, "GET", "/api/v1/deliveries/"+replayed.ID, nil)
	if r := s.Do("POST", "/api/v1/deliveries/"+replayed.ID+"/retry", nil); r.Status != http.StatusConflict || r.ErrorCode() != string(chat.CodeFailedPrecond) {
		t.Fatalf("retry of a delivery whose event was pruned: %d %s", r.Status, r.Body)
	}
	if r := s.Do("POST", "/api/v1/deliveries/"+old.ID+"/retry", nil); r.Status != http.StatusNotFound {
		t.Fatalf("retry of a pruned delivery: %d %s", r.Status, r.Body)
	}
	s.Must(200, "POST", "/api/v1/deliveries/"+recent.ID+"/retry", nil)
}

// With no retention the janitor keeps the delivery log, however old.
func TestJanitorWithoutRetentionKeepsTheDeliveryLog(t *testing.T) {
	t.Parallel()
	js := &janitorStore{}
	s, ep, logs := retentionServer(t, 0, js)
	old := postDelivered(t, s, ep, "old")
	s.Clock.Advance(1000 * 24 * time.Hour)
	n := js.writes.Load()
	apptest.Eventually(t, 10*time.Second, "three janitor rounds after the clock moved", func() bool { return js.writes.Load() >= n+3 })
	s.Must(200, "GET", "/api/v1/deliveries/"+old.ID, nil)
	if !eventStored(t, s, old.EventID) || strings.Contains(logs.String(), "pruned the delivery log") {
		t.Fatalf("the delivery log was pruned without retention:\n%s", logs.String())
	}
}

func TestNegativeDeliveryRetentionIsRefused(t *testing.T) {
	t.Parallel()
	_, err := app.New(context.Background(), app.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DeliveryRetention: -time.Hour},
		apptest.Logger(t), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("a negative retention: %v", err)
	}
}
