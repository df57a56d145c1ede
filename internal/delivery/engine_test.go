package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	engine "github.com/chathooks/chathooks/internal/delivery"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// hookStore runs a hook once, right after the next write commits and before the caller
// sees the result: the window between a commit and the hand-over of its deliveries.
type hookStore struct {
	chat.Store
	hook atomic.Pointer[func()]
	// loseRoom: the write that creates this room commits but its caller is told it
	// failed, as when the connection drops while COMMIT is answered.
	loseRoom atomic.Pointer[string]
}

func (h *hookStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	var lose bool
	inner := fn
	if id := h.loseRoom.Load(); id != nil {
		inner = func(tx chat.Tx) error { return fn(roomSpy{tx, *id, &lose}) }
	}
	err := h.Store.Write(ctx, inner)
	if f := h.hook.Swap(nil); f != nil && err == nil {
		(*f)()
	}
	if err == nil && lose {
		return chat.Errorf(chat.CodeUnavailable, "the connection was lost while the commit was answered")
	}
	return err
}

// roomSpy notes whether a write inserts the room id.
type roomSpy struct {
	chat.Tx
	id   string
	seen *bool
}

func (r roomSpy) InsertRoom(room chat.Room) error {
	if room.ID == r.id {
		*r.seen = true
	}
	return r.Tx.InsertRoom(room)
}

// arm makes f run after the next write through the service.
func (h *hookStore) arm(f func()) { h.hook.Store(&f) }

// startHooked starts a server (fake clock, an hour's re-scan so only real wake-ups count)
// whose chat service writes through a hookStore. Like every apptest server, it fails the
// test if the safety re-scan found a delivery.
func startHooked(t *testing.T) (*apptest.Server, *hookStore) {
	hs := &hookStore{}
	s := apptest.Start(t, apptest.Options{FakeClock: true, Config: func(c *app.Config) {
		c.DeliveryRescan = time.Hour
		c.WrapServiceStore = func(st chat.Store) chat.Store { hs.Store = st; return hs }
	}})
	return s, hs
}

// within fails unless cond holds within d of now.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	apptest.Eventually(t, max(d, 10*time.Second), what, cond)
	if took := time.Since(start); took > d {
		t.Fatalf("%s took %v, want at most %v", what, took.Round(time.Millisecond), d)
	}
}

// Every signal the engine knows (poke, endpoints changed, deliveries due) fires between
// the commit of a message and the hand-over of its deliveries: the delivery still goes
// at once.
func TestWakeUpsInTheCommitWindow(t *testing.T) {
	t.Parallel()
	s, hs := startHooked(t)
	rc := newReceiver(t, nil)
	createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	for i := range 3 {
		hs.arm(func() {
			e := s.DeliveryEngine()
			e.Poke()
			e.EndpointsChanged()
			e.DeliveriesDue()
		})
		send(t, s, "r", "u", "hello")
		within(t, time.Second, "delivery after signals in the commit window", func() bool { return rc.count() == i+1 })
	}
}

// The endpoint is deleted between the commit and the hand-over: nothing is sent to it,
// nothing panics, and the other endpoint gets the message.
func TestEndpointDeletedInTheCommitWindow(t *testing.T) {
	t.Parallel()
	s, hs := startHooked(t)
	doomed, other := newReceiver(t, nil), newReceiver(t, nil)
	types := []string{chat.EventMessageSend}
	ep := createEndpoint(t, s, map[string]any{"url": doomed.URL, "event_types": types})
	createEndpoint(t, s, map[string]any{"url": other.URL, "event_types": types})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	hs.arm(func() { s.Must(http.StatusNoContent, "DELETE", "/api/v1/endpoints/"+ep.ID, nil) })
	send(t, s, "r", "u", "one")
	within(t, time.Second, "delivery to the remaining endpoint", func() bool { return other.count() == 1 })
	send(t, s, "r", "u", "two")
	within(t, time.Second, "the next delivery", func() bool { return other.count() == 2 })
	if n := doomed.count(); n != 0 {
		t.Fatalf("the deleted endpoint got %d requests", n)
	}
}

// The secret is rotated with no overlap between the commit and the hand-over: the
// delivery is signed with the new secret only.
func TestRotationInTheCommitWindow(t *testing.T) {
	t.Parallel()
	s, hs := startHooked(t)
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	var rot chat.EndpointView
	hs.arm(func() {
		s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/rotate-secret", map[string]any{"expire_old_after_s": 0}).JSON(t, &rot)
	})
	send(t, s, "r", "u", "hello")
	within(t, time.Second, "delivery after a rotation in the commit window", func() bool { return rc.count() == 1 })
	h := rc.hit(0)
	cur, _ := standardwebhooks.NewWebhook(rot.Secret)
	old, _ := standardwebhooks.NewWebhook(ep.Secret)
	if err := cur.VerifyIgnoringTimestamp(h.Body, h.Header); err != nil {
		t.Fatalf("the new secret does not verify: %v", err)
	}
	if old.VerifyIgnoringTimestamp(h.Body, h.Header) == nil || len(strings.Fields(h.Header.Get("webhook-signature"))) != 1 {
		t.Fatalf("signed with the expired secret too: %s", h.Header.Get("webhook-signature"))
	}
}

// A manual retry answers with the delivery as scheduled and wakes an idle engine at once;
// so does a replay.
func TestManualRetryAndReplayWakeAnIdleEngine(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	rc := newReceiver(t, status(http.StatusInternalServerError))
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}, "retry": map[string]any{"max_attempts": 1}})
	t0 := s.Clock.Now()
	mkRoom(t, s, "r")
	d := waitStatus(t, s, ep.ID, "", chat.DeliveryDead, 1)[0]
	rc.setRespond(nil)
	advance(s, time.Minute)
	var got chat.Delivery
	s.Must(http.StatusOK, "POST", "/api/v1/deliveries/"+d.ID+"/retry", nil).JSON(t, &got)
	if got.Status != chat.DeliveryPending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(s.Clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("manual retry answered %+v, want pending and due now (%v)", got, s.Clock.Now())
	}
	within(t, time.Second, "the manual retry", func() bool { return rc.count() == 2 })
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)
	var res struct{ Deliveries int }
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/replay", map[string]any{"since": t0}).JSON(t, &res)
	if res.Deliveries != 1 {
		t.Fatalf("replay created %d", res.Deliveries)
	}
	within(t, time.Second, "the replay", func() bool { return rc.count() == 3 })
}

// Three retries of one endpoint fall due together: each is sent when they are due, not
// one of them and the rest at a later scan.
func TestRetriesDueTogetherAllGoOnTime(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	for range 3 {
		send(t, s, "r", "u", "m")
	}
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliveryFailed, 3)
	advance(s, 6*time.Second) // the first retry is due 5 s ± 20 % after the attempt
	within(t, time.Second, "all three retries", func() bool { return rc.count() == 6 })
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliverySucceeded, 3)
}

// A panic in a send is recovered and counted, and the delivery's lease is given back, so
// the delivery is claimed and sent again.
func TestPanicInSendGivesTheLeaseBack(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	var calls atomic.Int32
	engine.SetSendHook(s.DeliveryEngine(), func(string) {
		if calls.Add(1) == 1 {
			panic("injected fault")
		}
	})
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}})
	mkRoom(t, s, "r")
	within(t, time.Second, "the delivery after the panic", func() bool { return rc.count() == 1 })
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)
	if n := s.Counter("chathooks_delivery_panics_total"); n != 1 {
		t.Fatalf("%v panics counted, want 1", n)
	}
	if d := delivery(t, s, deliveries(t, s, ep.ID, "")[0].ID); len(d.Attempts) != 1 {
		t.Fatalf("the panicked send was recorded as an attempt: %+v", d.Attempts)
	}
}

// pgNodes skips the test unless it runs on PostgreSQL, and returns a function that starts
// a node on one shared database (an hour's re-scan, so only real wake-ups count).
func pgNodes(t *testing.T) func() *apptest.Server {
	t.Helper()
	if os.Getenv(apptest.BackendEnv) != "postgres" {
		t.Skip("needs CHATHOOKS_TEST_BACKEND=postgres")
	}
	url := pgtest.URL(t)
	return func() *apptest.Server {
		return apptest.Start(t, apptest.Options{Config: func(c *app.Config) {
			c.DatabaseURL = url
			c.DeliveryRescan = time.Hour
		}})
	}
}

// Two nodes on one PostgreSQL database: an endpoint created through node A gets the
// message posted through node B at once (an hour's re-scan, so only a real wake counts).
func TestCrossNodeEndpointCreation(t *testing.T) {
	t.Parallel()
	node := pgNodes(t)
	a, b := node(), node()
	rc := newReceiver(t, nil)
	mkUser(t, a, "u", "human")
	mkRoom(t, a, "r", "u")
	for i := range 3 {
		createEndpoint(t, a, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}})
		send(t, b, "r", "u", "hello")
		n := (i + 1) * (i + 2) / 2 // each message goes to every endpoint so far
		within(t, time.Second, "delivery through the other node", func() bool { return rc.count() == n })
	}
}

// A write that committed although its caller was told it failed (the connection dropped
// while COMMIT was answered) leaves deliveries leased to the node that were never handed
// to its engine. The node does not renew leases it does not hold, so they end and the
// engine claims them back: delivered once the lease is over (an hour's re-scan, so only a
// real wake counts). Only PostgreSQL can lose a commit's answer this way.
func TestUnconfirmedCommitDeliveredAfterItsLease(t *testing.T) {
	t.Parallel()
	if os.Getenv(apptest.BackendEnv) != "postgres" {
		t.Skip("needs CHATHOOKS_TEST_BACKEND=postgres")
	}
	const margin = time.Second
	hs := &hookStore{}
	s := apptest.Start(t, apptest.Options{FakeClock: true, Config: func(c *app.Config) {
		c.DatabaseURL = pgtest.URL(t)
		c.DeliveryRescan = time.Hour
		c.DeliveryLeaseMargin = margin
		c.WrapServiceStore = func(st chat.Store) chat.Store { hs.Store = st; return hs }
	}})
	rc := newReceiver(t, nil)
	createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}})
	lost := "r"
	hs.loseRoom.Store(&lost)
	s.Must(http.StatusServiceUnavailable, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "Room r"})
	s.Must(http.StatusOK, "GET", "/api/v1/rooms/r", nil) // it did commit
	mkRoom(t, s, "r2")                                   // handed over as usual
	within(t, time.Second, "the confirmed room's delivery", func() bool { return rc.count() == 1 })
	// The lease of the unconfirmed write ends; the held delivery's lease is renewed.
	s.Clock.Advance(chat.DefaultTimeout + margin + time.Second)
	within(t, 5*time.Second, "the unconfirmed room's delivery after its lease", func() bool { return rc.count() == 2 })
}

// /metrics reports attempts by endpoint and outcome, and each endpoint's queue depth,
// oldest waiting delivery and breaker state.
func TestEndpointMetrics(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, status(http.StatusInternalServerError))
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	for range engine.BreakerThreshold {
		send(t, s, "r", "u", "m")
	}
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliveryFailed, engine.BreakerThreshold)
	label := `{endpoint_id="` + ep.ID + `"}`
	want := []string{
		`chathooks_delivery_attempts_total{endpoint_id="` + ep.ID + `",outcome="failed"} 5`,
		"chathooks_delivery_breaker_state" + label + " 2",
		"chathooks_delivery_queue_depth" + label + " 5",
		"chathooks_delivery_oldest_pending_seconds" + label,
		"chathooks_delivery_attempt_duration_seconds_count",
		"chathooks_delivery_rescan_found_total 0",
	}
	apptest.Eventually(t, 10*time.Second, "endpoint metrics", func() bool {
		body := string(s.Must(http.StatusOK, "GET", "/metrics", nil).Body)
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	})
}

// An attempt's time in its endpoint's in-flight slot runs from the slot's taking to the
// attempt's end, so it counts the engine's work before the request as well as the request
// (which is all chathooks_delivery_attempt_duration_seconds counts). On the injected
// clock: 1 s passes after the slot is taken and before the request, 2 s while the
// endpoint answers.
func TestSlotSecondsCountTheWholeSlot(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	engine.SetSendHook(s.DeliveryEngine(), func(string) { s.Clock.Advance(time.Second) })
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		s.Clock.Advance(2 * time.Second)
		w.WriteHeader(http.StatusOK)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}})
	mkRoom(t, s, "r")
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)
	attempt := s.HistogramSum("chathooks_delivery_attempt_duration_seconds")
	apptest.Eventually(t, 10*time.Second, "the slot's time counted", func() bool {
		return s.Counter("chathooks_delivery_slot_seconds_total") != 0
	})
	if slot := s.Counter("chathooks_delivery_slot_seconds_total"); attempt != 2 || slot != 3 {
		t.Fatalf("attempt %v s, slot %v s; want 2 and 3", attempt, slot)
	}
	// By endpoint, as /metrics shows it.
	want := `chathooks_delivery_slot_seconds_total{endpoint_id="` + ep.ID + `"} 3`
	if body := string(s.Must(http.StatusOK, "GET", "/metrics", nil).Body); !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %q", want)
	}
}

// More deliveries than a lane may hold: the rest go back to the store at once and are
// claimed as the lane drains; every one arrives, once, with no help from the re-scan.
func TestOverflowGoesBackToTheStoreAndComesBack(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	engine.SetMaxHeld(s.DeliveryEngine(), 5)
	gate := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		<-gate
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 1, "timeout_ms": 60000})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	const n = 40
	for range n {
		send(t, s, "r", "u", "m")
	}
	close(gate)
	within(t, 5*time.Second, "every delivery through a lane that holds 5", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliverySucceeded, n)
	mu.Lock()
	defer mu.Unlock()
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s arrived %d times", id, k)
		}
	}
}

// Node A stops with deliveries it holds: it gives their leases back and announces it, and
// node B takes them at once (an hour's re-scan; A's leases would last much longer).
func TestReleasedWorkWakesTheOtherNode(t *testing.T) {
	t.Parallel()
	node := pgNodes(t)
	a := node()
	node() // node B
	var open atomic.Bool
	var mu sync.Mutex
	seen := map[string]bool{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		if !open.Load() {
			<-r.Context().Done() // node A's sends hang until it stops and cuts them
			return
		}
		mu.Lock()
		seen[r.Header.Get("webhook-id")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	createEndpoint(t, a, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 2, "timeout_ms": 60000})
	mkUser(t, a, "u", "human")
	mkRoom(t, a, "r", "u")
	const n = 10
	for range n {
		send(t, a, "r", "u", "m")
	}
	apptest.Eventually(t, 10*time.Second, "node A's sends in flight", func() bool { return rc.count() >= 2 })
	open.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = a.Shutdown(ctx)
	within(t, time.Second, "node B delivers what node A gave back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
}

// A manual retry lands after a dead attempt was written and before the engine learned of
// it: the delivery is still sent again at once.
func TestManualRetryWhileTheOutcomeIsRecorded(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	var once atomic.Bool
	var retried chat.Delivery
	var hookMu sync.Mutex
	var hooked []string // the batch the hook saw (read after the test, for a failure's log)
	engine.SetRecordHook(s.DeliveryEngine(), func(ids []string) {
		if once.Swap(true) {
			return
		}
		hookMu.Lock()
		hooked = ids
		hookMu.Unlock()
		s.Must(http.StatusOK, "POST", "/api/v1/deliveries/"+ids[0]+"/retry", nil).JSON(t, &retried)
	})
	t.Cleanup(func() {
		hookMu.Lock()
		defer hookMu.Unlock()
		if t.Failed() && once.Load() {
			t.Logf("the record hook saw %v", hooked)
			if len(hooked) > 0 {
				t.Logf("delivery now: %s", s.Do("GET", "/api/v1/deliveries/"+hooked[0], nil).Body)
			}
		}
	})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}, "retry": map[string]any{"max_attempts": 1}})
	mkRoom(t, s, "r")
	// A lost retry would never be sent (the fake clock does not move and the re-scan is an
	// hour away), so the deadline only bounds the test: it is not a latency bound, which a
	// machine loaded by the race detector and parallel packages can exceed.
	apptest.Eventually(t, 10*time.Second, "the manual retry", func() bool { return rc.count() == 2 })
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)
	if retried.Status != chat.DeliveryPending {
		t.Fatalf("manual retry answered %+v", retried)
	}
}

// A lane with more work than slots: its send goroutines go from one delivery to the next
// (never more than max_in_flight at once), and once Stop begins each finishes its attempt
// and takes no other.
func TestBusyLaneSendsInTurnAndStopsTakingAtStop(t *testing.T) {
	t.Parallel()
	s, _ := startHooked(t)
	var inFlight, most atomic.Int32
	gate := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		cur := inFlight.Add(1)
		for m := most.Load(); cur > m && !most.CompareAndSwap(m, cur); m = most.Load() {
		}
		if n >= 30 {
			<-gate
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 2})
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	for i := range 40 {
		send(t, s, "r", "u", fmt.Sprint("m", i))
	}
	within(t, 5*time.Second, "30 answered and 2 more waiting", func() bool { return rc.count() == 32 })
	if m := most.Load(); m > 2 {
		t.Fatalf("%d requests in flight at once, max_in_flight is 2", m)
	}
	e := s.DeliveryEngine()
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(context.Background()) }()
	apptest.Eventually(t, 5*time.Second, "Stop begun", func() bool { return engine.Stopping(e) })
	close(gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := rc.count(); n != 32 {
		t.Fatalf("%d requests after Stop, want the 32 sent before it", n)
	}
}
