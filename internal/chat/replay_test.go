package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
)

// eventsHook calls after with the events of each Events read made through it.
type eventsHook struct {
	chat.Store
	after func(evs []chat.Event)
}

func (h *eventsHook) Events(ctx context.Context, after int64, limit int) ([]chat.Event, int64, error) {
	evs, last, err := h.Store.Events(ctx, after, limit)
	h.after(evs)
	return evs, last, err
}

// seedReplay writes endpoint "e" (every event type) and old events created at t0, a
// millisecond apart, then three created in the three minutes before now.
func seedReplay(t *testing.T, st chat.Store, t0, now time.Time, old int) {
	t.Helper()
	if err := st.Write(context.Background(), func(tx chat.Tx) error {
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
}

// A replay reads the outbox from shortly before its since time, not from its first event:
// with two batches of day-old events and three recent ones, a replay of the last hour
// reads the three (and makes their deliveries), a replay of everything reads them all.
func TestReplayReadsFromItsSince(t *testing.T) {
	eachStore(t, func(t *testing.T, st chat.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		now := t0.Add(24 * time.Hour)
		var read int
		svc := chat.NewService(chat.Config{Store: &eventsHook{Store: st, after: func(evs []chat.Event) { read += len(evs) }},
			Clock: clock.NewFake(now), Renderer: plainRenderer{}})
		old := 2 * chat.ReplayBatch
		seedReplay(t, st, t0, now, old)
		d := chat.NewDeliveries(svc, chat.DeliveriesConfig{})
		n, err := d.Replay(ctx, "e", now.Add(-time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("replay of the last hour: %d deliveries, %v; want 3", n, err)
		}
		if read != 3 {
			t.Fatalf("replay of the last hour read %d events, want the 3 of that hour", read)
		}
		read = 0
		if n, err := d.Replay(ctx, "e", t0); err != nil || n != old+3 {
			t.Fatalf("replay of everything: %d deliveries, %v; want %d", n, err, old+3)
		}
		if read != old+3 {
			t.Fatalf("replay of everything read %d events, want %d", read, old+3)
		}
	})
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
		var once sync.Once
		prune := func([]chat.Event) { // right after the first read, before its write
			once.Do(func() {
				if p, err := plain.PruneDeliveryLog(ctx, time.Hour); err != nil || p.Events != chat.ReplayBatch {
					t.Errorf("the prune between read and write: %+v %v, want the %d old events", p, err, chat.ReplayBatch)
				}
			})
		}
		svc := chat.NewService(chat.Config{Store: &eventsHook{Store: st, after: prune}, Clock: clk, Renderer: plainRenderer{}})
		seedReplay(t, st, t0, now, chat.ReplayBatch)
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
