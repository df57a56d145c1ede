package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
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
