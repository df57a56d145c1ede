package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// bothStores opens a new store of each kind (PostgreSQL skips without a database).
var bothStores = map[string]func(t *testing.T) chat.Store{
	"sqlite":   func(t *testing.T) chat.Store { return openSQLite(t) },
	"postgres": func(t *testing.T) chat.Store { return pgtest.Open(t) },
}

// eachStore runs test on a new store of each kind, the kinds in parallel.
func eachStore(t *testing.T, test func(t *testing.T, st chat.Store)) {
	t.Parallel()
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

// catchAll is endpoint "e": every event type, standard format, active since at.
func catchAll(at time.Time) chat.Endpoint {
	return chat.Endpoint{ID: "e", URL: "https://example.com/e", EventTypes: []string{"*"}, Format: chat.FormatStandard,
		SecretSealed: "sealed", Status: chat.EndpointActive, CreatedAt: at, UpdatedAt: at}
}

// writeCounter counts the writes made through it.
type writeCounter struct {
	chat.Store
	writes atomic.Int64
}

func (c *writeCounter) Write(ctx context.Context, fn func(chat.Tx) error) error {
	c.writes.Add(1)
	return c.Store.Write(ctx, fn)
}

// PruneDeliveryLog walks both tables in steps of DeliveryLogBatch rows, each its own write,
// until the rows are younger than the retention; it does nothing without a retention, and
// stops when its context ends.
func TestPruneDeliveryLog(t *testing.T) {
	eachStore(t, testPruneDeliveryLog)
}

func testPruneDeliveryLog(t *testing.T, st chat.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	cs := &writeCounter{Store: st}
	svc := chat.NewService(chat.Config{Store: cs, Clock: clk, Renderer: plainRenderer{}})
	// 2.5 batches of old events, each delivered to a dead end (one failed attempt), then one
	// recent event and its delivery.
	old := 5*chat.DeliveryLogBatch/2 + 1
	if err := st.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertEndpoint(catchAll(t0)); err != nil {
			return err
		}
		var ds []chat.Delivery
		for i := range old + 1 {
			at := t0
			if i == old {
				at = t0.Add(48 * time.Hour)
			}
			e := chat.Event{ID: fmt.Sprintf("evt_%05d", i), Type: chat.EventMessageSend, CreatedAt: at, Payload: json.RawMessage(`{}`)}
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
			ds = append(ds, chat.Delivery{ID: fmt.Sprintf("dlv_%05d", i), EventID: e.ID, EventType: e.Type, EndpointID: "e", CreatedAt: at})
		}
		return tx.InsertDeliveriesLeased(ds, chat.Lease{Owner: "n", Until: t0.Add(1000 * time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	rs := make([]chat.DeliveryResult, 0, old+1)
	for i := range old + 1 {
		rs = append(rs, chat.DeliveryResult{ID: fmt.Sprintf("dlv_%05d", i), EndpointID: "e", Owner: "n", Status: chat.DeliveryDead,
			Attempt: chat.Attempt{At: t0, StatusCode: 500}})
	}
	if err := st.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(48*time.Hour + time.Minute))

	if p, err := svc.PruneDeliveryLog(ctx, 0); err != nil || p.Rows() != 0 {
		t.Fatalf("without a retention: %+v %v", p, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if p, err := svc.PruneDeliveryLog(cancelled, 24*time.Hour); !errors.Is(err, context.Canceled) || p.Rows() != 0 {
		t.Fatalf("with its context ended: %+v %v", p, err)
	}

	cs.writes.Store(0)
	p, err := svc.PruneDeliveryLog(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p.Deliveries != int64(old) || p.Attempts != int64(old) || p.Events != int64(old) || !p.Before.Equal(t0.Add(24*time.Hour+time.Minute)) {
		t.Fatalf("pruned %+v, want %d deliveries, attempts and events", p, old)
	}
	// Three windows of a batch reach the recent rows, for each table.
	if n := cs.writes.Load(); n != 6 {
		t.Fatalf("%d writes, want 3 steps for each table", n)
	}
	if p, err := svc.PruneDeliveryLog(ctx, 24*time.Hour); err != nil || p.Rows() != 0 {
		t.Fatalf("a second round: %+v %v", p, err)
	}
	last := fmt.Sprintf("dlv_%05d", old)
	if _, err := st.GetDelivery(ctx, last); err != nil {
		t.Fatalf("the recent delivery: %v", err)
	}
}

// Prune forgets expired idempotency keys PruneKeysBatch at a time, each batch its own
// write, until a batch comes back short; younger keys stay.
func TestPruneKeysInBatches(t *testing.T) {
	eachStore(t, func(t *testing.T, st chat.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		old := 2*chat.PruneKeysBatch + 1
		if err := st.Write(ctx, func(tx chat.Tx) error {
			for i := range old {
				if err := tx.InsertIdempotency("api:r", fmt.Sprint("old", i), "m", t0); err != nil {
					return err
				}
			}
			return tx.InsertIdempotency("api:r", "young", "m", t0.Add(chat.IdempotencyWindow))
		}); err != nil {
			t.Fatal(err)
		}
		cs := &writeCounter{Store: st}
		svc := chat.NewService(chat.Config{Store: cs, Clock: clock.NewFake(t0.Add(chat.IdempotencyWindow + time.Minute)), Renderer: plainRenderer{}})
		n, err := svc.Prune(ctx)
		if err != nil || n != int64(old) || cs.writes.Load() != 3 {
			t.Fatalf("pruned %d rows in %d writes (%v); want %d in 3", n, cs.writes.Load(), err, old)
		}
		if err := st.Write(ctx, func(tx chat.Tx) error {
			if m, err := tx.IdempotentMessage("api:r", "young"); err != nil || m != "m" {
				return fmt.Errorf("the young key: %q %v", m, err)
			}
			if m, err := tx.IdempotentMessage("api:r", "old0"); err != nil || m != "" {
				return fmt.Errorf("an old key: %q %v", m, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}
