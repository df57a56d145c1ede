package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
)

// eventsCounter counts the events read through Events.
type eventsCounter struct {
	chat.Store
	read atomic.Int64
}

func (c *eventsCounter) Events(ctx context.Context, after int64, limit int) ([]chat.Event, int64, error) {
	evs, last, err := c.Store.Events(ctx, after, limit)
	c.read.Add(int64(len(evs)))
	return evs, last, err
}

// A replay reads the outbox from shortly before its since time, not from its first event:
// with two batches of day-old events and three recent ones, a replay of the last hour
// reads the three (and makes their deliveries), a replay of everything reads them all.
func TestReplayReadsFromItsSince(t *testing.T) {
	eachStore(t, func(t *testing.T, st chat.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		now := t0.Add(24 * time.Hour)
		cs := &eventsCounter{Store: st}
		svc := chat.NewService(chat.Config{Store: cs, Clock: clock.NewFake(now), Renderer: plainRenderer{}})
		old := 2 * chat.ReplayBatch
		if err := st.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertEndpoint(catchAll(t0)); err != nil {
				return err
			}
			for i := range old + 3 {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				if i >= old {
					at = now.Add(-time.Duration(old+3-i) * time.Minute)
				}
				e := chat.Event{ID: fmt.Sprintf("evt_%05d", i), Type: chat.EventMessageSend, CreatedAt: at, Payload: json.RawMessage(`{}`)}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		d := chat.NewDeliveries(svc, chat.DeliveriesConfig{})
		n, err := d.Replay(ctx, "e", now.Add(-time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("replay of the last hour: %d deliveries, %v; want 3", n, err)
		}
		if r := cs.read.Load(); r != 3 {
			t.Fatalf("replay of the last hour read %d events, want the 3 of that hour", r)
		}
		cs.read.Store(0)
		if n, err := d.Replay(ctx, "e", t0); err != nil || n != old+3 {
			t.Fatalf("replay of everything: %d deliveries, %v; want %d", n, err, old+3)
		}
		if r := cs.read.Load(); r != int64(old+3) {
			t.Fatalf("replay of everything read %d events, want %d", r, old+3)
		}
	})
}

// prunesAfterFirstRead runs prune once, right after the first Events read returns: the
// retention deleting events between a replay's read and its write.
type prunesAfterFirstRead struct {
	chat.Store
	prune func()
	once  sync.Once
}

func (p *prunesAfterFirstRead) Events(ctx context.Context, after int64, limit int) ([]chat.Event, int64, error) {
	evs, last, err := p.Store.Events(ctx, after, limit)
	p.once.Do(p.prune)
	return evs, last, err
}

// A replay makes no delivery for an event the retention pruned after the replay read it:
// the write keeps only the deliveries whose events are still stored.
func TestReplaySkipsEventsPrunedMeanwhile(t *testing.T) {
	eachStore(t, func(t *testing.T, st chat.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		now := t0.Add(24 * time.Hour)
		clk := clock.NewFake(now)
		plain := chat.NewService(chat.Config{Store: st, Clock: clk, Renderer: plainRenderer{}})
		ps := &prunesAfterFirstRead{Store: st, prune: func() {
			if p, err := plain.PruneDeliveryLog(ctx, time.Hour); err != nil || p.Events != chat.ReplayBatch {
				t.Errorf("the prune between read and write: %+v %v, want the %d old events", p, err, chat.ReplayBatch)
			}
		}}
		svc := chat.NewService(chat.Config{Store: ps, Clock: clk, Renderer: plainRenderer{}})
		if err := st.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertEndpoint(catchAll(t0)); err != nil {
				return err
			}
			for i := range chat.ReplayBatch + 3 {
				at := t0
				if i >= chat.ReplayBatch {
					at = now.Add(-time.Minute)
				}
				e := chat.Event{ID: fmt.Sprintf("evt_%05d", i), Type: chat.EventMessageSend, CreatedAt: at, Payload: json.RawMessage(`{}`)}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		n, err := chat.NewDeliveries(svc, chat.DeliveriesConfig{}).Replay(ctx, "e", t0)
		if err != nil || n != 3 {
			t.Fatalf("replay: %d deliveries, %v; want the 3 events still stored", n, err)
		}
		ds, err := st.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: "e", Limit: 100})
		if err != nil || len(ds) != 3 {
			t.Fatalf("deliveries stored: %v, %d; want 3", err, len(ds))
		}
	})
}
