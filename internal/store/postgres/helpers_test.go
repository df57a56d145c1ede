package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// openWrapped opens a store on a fresh schema whose writer connection is wrapped by wrap,
// and returns the wrapper (o.Writers should be 1, or the last writer's wrapper is kept).
func openWrapped[W sqlstore.WriterConn](t *testing.T, o postgres.Options, wrap func(sqlstore.WriterConn) W) (*sqlstore.Store, W) {
	t.Helper()
	var w W
	postgres.WrapWriters(&o, func(c sqlstore.WriterConn) sqlstore.WriterConn { w = wrap(c); return w })
	s, err := postgres.Open(context.Background(), pgtest.URL(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, w
}

// leasedDeliveries writes endpoint "e", an event and two deliveries of it leased to "n",
// and returns the results that complete both.
func leasedDeliveries(t *testing.T, s *sqlstore.Store, now time.Time) []chat.DeliveryResult {
	t.Helper()
	ev := chat.Event{ID: "evt_p", Type: chat.EventRoomCreate, CreatedAt: now, Payload: []byte(`{}`)}
	ds := []chat.Delivery{{ID: "d1", EventID: ev.ID, EventType: ev.Type, EndpointID: "e", CreatedAt: now},
		{ID: "d2", EventID: ev.ID, EventType: ev.Type, EndpointID: "e", CreatedAt: now}}
	if err := s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertEndpoint(chat.Endpoint{ID: "e", URL: "https://example.com/e", EventTypes: []string{"*"}, Format: chat.FormatStandard,
			SecretSealed: "sealed", Status: chat.EndpointActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		return tx.InsertDeliveriesLeased(ds, chat.Lease{Owner: "n", Until: now.Add(time.Minute)})
	}); err != nil {
		t.Fatal(err)
	}
	var rs []chat.DeliveryResult
	for _, d := range ds {
		rs = append(rs, chat.DeliveryResult{ID: d.ID, EndpointID: "e", Owner: "n", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: now, StatusCode: 200}})
	}
	return rs
}

// roundTrips wraps a writer connection and keeps the statements of each round trip it
// makes (a pipeline's statements together).
type roundTrips struct {
	sqlstore.WriterConn
	mu   sync.Mutex
	sent [][]string
	// then, when set, runs once right after the next pipelined round trip returns (before
	// the writer sends anything more): a test makes something happen between two round
	// trips of one batch.
	then func()
}

// afterNextTrip makes fn run once, right after the next pipelined round trip returns.
func (w *roundTrips) afterNextTrip(fn func()) {
	w.mu.Lock()
	w.then = fn
	w.mu.Unlock()
}

func (w *roundTrips) record(qs ...string) {
	w.mu.Lock()
	w.sent = append(w.sent, qs)
	w.mu.Unlock()
}

// trips returns the round trips since the last reset, each a text (a pipeline's
// statements joined by " | ").
func (w *roundTrips) trips() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, len(w.sent))
	for i, qs := range w.sent {
		out[i] = strings.Join(qs, " | ")
	}
	return out
}

// statements returns every statement sent since the last reset, in order.
func (w *roundTrips) statements() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Concat(w.sent...)
}

func (w *roundTrips) reset() {
	w.mu.Lock()
	w.sent = nil
	w.mu.Unlock()
}

func (w *roundTrips) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	w.record(q)
	return w.WriterConn.Exec(ctx, q, args...)
}

func (w *roundTrips) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	w.record(q)
	return w.WriterConn.QueryRow(ctx, q, args...)
}

func (w *roundTrips) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	w.record(q)
	return w.WriterConn.Query(ctx, q, args...)
}

func (w *roundTrips) Pipeline(ctx context.Context, stmts []sqlstore.Stmt, scan func(sqlstore.Row) error) (int64, int, error) {
	qs := make([]string, len(stmts))
	for i, st := range stmts {
		qs[i] = st.SQL
	}
	w.record(qs...)
	n, failed, err := w.WriterConn.(sqlstore.Pipeliner).Pipeline(ctx, stmts, scan)
	w.mu.Lock()
	then := w.then
	w.then = nil
	w.mu.Unlock()
	if then != nil {
		then()
	}
	return n, failed, err
}

func (w *roundTrips) BeginRead(ctx context.Context, q string) ([]int64, error) {
	w.record(q)
	return w.WriterConn.(sqlstore.BeginReader).BeginRead(ctx, q)
}

// newRoundTrips is openWrapped's wrap for roundTrips.
func newRoundTrips(c sqlstore.WriterConn) *roundTrips { return &roundTrips{WriterConn: c} }

// behindGate holds the store's writer in a batch of its own while n writes queue behind it,
// in order (write(i) makes the i-th and returns when it is answered), then calls ready (the
// writer sends nothing until it is released: a round-trip counter can be reset there),
// releases the writer and waits for every write: the n writes then run as one batch (of
// at most the writer's batch size).
func behindGate(t *testing.T, s *sqlstore.Store, n int, ready func(), write func(i int)) {
	t.Helper()
	entered, release, gateDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		gateDone <- s.Write(context.Background(), func(chat.Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			write(i)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for s.Queued() < i+1 {
			if time.Now().After(deadline) {
				close(release)
				t.Fatalf("only %d of %d writes queued", s.Queued(), i+1)
			}
			time.Sleep(100 * time.Microsecond) // polling the queue length, with a deadline
		}
	}
	ready()
	close(release)
	if err := <-gateDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
