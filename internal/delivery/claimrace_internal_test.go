package delivery

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/secretbox"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// claimRaceStore hides its store's single-node answer (so leases end with the fake clock,
// as on PostgreSQL) and holds the caller of the first recovery claim that returned
// deliveries, after its commit, until release is closed.
type claimRaceStore struct {
	chat.Store
	claimed chan struct{} // closed when that claim has committed
	release chan struct{}
	once    sync.Once
}

func (s *claimRaceStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	var got int
	err := s.Store.Write(ctx, func(tx chat.Tx) error { return fn(claimSpy{tx, &got}) })
	if err == nil && got > 0 {
		s.once.Do(func() { close(s.claimed); <-s.release })
	}
	return err
}

// claimSpy counts what a claim returned.
type claimSpy struct {
	chat.Tx
	got *int
}

func (c claimSpy) ClaimDeliveries(cl chat.Claim) ([]chat.Claimed, error) {
	got, err := c.Tx.ClaimDeliveries(cl)
	*c.got = len(got)
	return got, err
}

// A recovery claim committed while a delivery was in flight (its own lease had ended)
// returns that delivery; the delivery then dies and leaves its lane before the claim's
// result is taken in. The engine must not take it back: it was attempted again (a dead
// delivery announced twice). The test forces that order: the send waits for the claim's
// commit, the claim's caller waits until the outcome is recorded and the lane let go.
func TestClaimCommittedBeforeAnOutcomeDoesNotTakeTheDeliveryBack(t *testing.T) {
	r := newRace(t, http.StatusInternalServerError)
	st, rs, fc, e, requests := r.st, r.rs, r.fc, r.e, &r.requests
	e.sendHook = func(string) {
		if requests.Load() > 0 {
			return
		}
		fc.Advance(time.Hour) // the lease taken at commit ends
		e.DeliveriesDue()     // a recovery claim now takes it, while it is in flight
		<-rs.claimed
	}
	r.start()
	r.handOver()
	held := func() int {
		n := 0
		e.locked(func() {
			if l := e.lanes["ep"]; l != nil {
				n = len(l.held)
			}
		})
		return n
	}
	<-rs.claimed
	eventually(t, 10*time.Second, "the delivery died and left its lane", func() bool {
		d, err := st.GetDelivery(context.Background(), "dlv_1")
		return err == nil && d.Status == chat.DeliveryDead && held() == 0
	})
	close(rs.release)
	eventually(t, 10*time.Second, "the claim's result taken in", func() bool {
		var claiming bool
		e.locked(func() { claiming = e.claiming })
		return !claiming
	})
	if n := held(); n != 0 {
		t.Fatalf("the dead delivery was taken back by the claim (%d held)", n)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

// eventually polls cond until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// A delivery given back (its send panicked) while a recovery claim waits to be written is
// claimable when that claim runs, so the claim leases it to this node again: the engine
// must take it back and send it, or it would sit leased to a node that does not hold it.
// The claim is held until the give-back is recorded and the lane let go of it.
func TestClaimAfterAGiveBackTakesTheDeliveryBack(t *testing.T) {
	r := newRace(t, http.StatusOK)
	rs, e, requests := r.rs, r.e, &r.requests
	waiting, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var armed atomic.Bool // the claim to hold is the one the first send asks for
	e.claimHook = func() {
		if armed.Load() {
			once.Do(func() { close(waiting); <-proceed })
		}
	}
	var proceeded sync.Once
	var sends atomic.Int32
	e.sendHook = func(string) {
		if sends.Add(1) == 1 {
			armed.Store(true)
			e.DeliveriesDue() // a recovery claim starts and waits, then the send fails
			<-waiting
			panic("injected fault")
		}
	}
	r.start()
	t.Cleanup(func() { proceeded.Do(func() { close(proceed) }) }) // runs before Stop: frees the loop
	r.handOver()
	<-waiting
	eventually(t, 10*time.Second, "the give-back recorded and the lane let go", func() bool {
		n := 0
		e.locked(func() {
			if l := e.lanes["ep"]; l != nil {
				n = len(l.held)
			}
		})
		return n == 0 && sends.Load() == 1
	})
	proceeded.Do(func() { close(proceed) })
	close(rs.release) // the wrapper does not hold this claim's result
	eventually(t, 10*time.Second, "the delivery sent after the give-back", func() bool { return requests.Load() == 1 })
}

// race is an engine on a SQLite store that hides its single-node answer (so leases end
// with the fake clock, as on PostgreSQL), with one endpoint whose receiver answers status
// (once: no retry).
type race struct {
	t        *testing.T
	st       chat.Store
	rs       *claimRaceStore
	fc       *clock.Fake
	e        *Engine
	requests atomic.Int32
}

func newRace(t *testing.T, status int) *race {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	sealed, err := box.Seal("whsec_" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	r := &race{t: t, st: st, fc: clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.requests.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	ep := chat.Endpoint{ID: "ep", URL: rc.URL, EventTypes: []string{"*"}, Format: chat.FormatStandard, SecretSealed: sealed,
		Headers: map[string]string{}, Status: chat.EndpointActive, Retry: chat.RetryPolicy{MaxAttempts: 1}, CreatedAt: r.fc.Now(), UpdatedAt: r.fc.Now()}
	if err := st.Write(ctx, func(tx chat.Tx) error { return tx.InsertEndpoint(ep) }); err != nil {
		t.Fatal(err)
	}
	r.rs = &claimRaceStore{Store: st, claimed: make(chan struct{}), release: make(chan struct{})}
	r.e = New(Options{Store: r.rs, Box: box, Transport: http.DefaultTransport, Clock: r.fc, Rescan: time.Hour})
	return r
}

// start starts the engine, stopped when the test ends.
func (r *race) start() {
	if err := r.e.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.e.Stop(c)
	})
}

// handOver commits an event with one delivery leased to the engine and hands it over.
func (r *race) handOver() {
	ev := chat.Event{ID: "evt_1", Type: chat.EventRoomCreate, CreatedAt: r.fc.Now(), Payload: []byte(`{}`)}
	ds := []chat.Delivery{{ID: "dlv_1", EventID: ev.ID, EventType: ev.Type, EndpointID: "ep", CreatedAt: r.fc.Now()}}
	err := r.st.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		return tx.InsertDeliveriesLeased(ds, r.e.Lease(r.fc.Now()))
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.e.Dispatch(chat.Handover{Deliveries: ds, Events: []chat.Event{ev}})
}

// A wake-up that comes as a recovery pass starts (after its round read the clock, before
// the pass reads the lanes' marks) is served at a time no earlier than its cause. Here the
// cause is the engine's own lease on an in-flight delivery ending: the pass must claim it
// (it was the hour the clock moved on), not clear the mark with a claim made at the
// round's earlier time, after which nothing would look again. The hook forces that order.
func TestWakeUpAsARecoveryPassStartsIsServed(t *testing.T) {
	r := newRace(t, http.StatusOK)
	close(r.rs.release) // the claim is watched, not held
	fc, e := r.fc, r.e
	inFlight, finish := make(chan struct{}), make(chan struct{})
	var sends atomic.Int32
	e.sendHook = func(string) {
		if sends.Add(1) == 1 {
			close(inFlight)
			<-finish
		}
	}
	var armed atomic.Bool
	e.recoverHook = func() {
		if armed.CompareAndSwap(true, false) {
			fc.Advance(time.Hour) // the lease taken at commit ends
			e.DeliveriesDue()     // and the wake-up says so, as the pass starts
		}
	}
	r.start()
	t.Cleanup(func() { close(finish) }) // runs before Stop: lets the send end
	r.handOver()
	<-inFlight
	eventually(t, 10*time.Second, "the engine idle", func() bool {
		var claiming bool
		e.locked(func() { claiming = e.claiming })
		return !claiming
	})
	armed.Store(true)
	e.DeliveriesDue() // a recovery pass starts
	select {
	case <-r.rs.claimed:
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery whose lease ended was not claimed: the wake-up that came as the pass started was lost")
	}
}
