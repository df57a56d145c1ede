package sqlite_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// BenchmarkConcurrentMessageInserts compares group commit with one commit per message:
// 64 concurrent producers (32 per CPU on 2 CPUs), each waiting for its own durable commit
// (WAL, synchronous=FULL) before the next. One op = one message row + its outbox event
// row (with the room sequence update). CHATHOOKS_BENCH_ROOMS sets the rooms (default 100).
func BenchmarkConcurrentMessageInserts(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts sqlite.Options
	}{
		{"group", sqlite.Options{}},
		{"single", sqlite.Options{Options: sqlstore.Options{NoGroupCommit: true}}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var batches, batched atomic.Int64
			mode.opts.ObserveBatch = func(n int, _ time.Duration) { batches.Add(1); batched.Add(int64(n)) }
			s, err := sqlite.Open(context.Background(), b.TempDir(), mode.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rooms := 100
			if v, err := strconv.Atoi(os.Getenv("CHATHOOKS_BENCH_ROOMS")); err == nil && v > 0 {
				rooms = v
			}
			storetest.BenchMessageWrites(b, s, rooms, false, &batches, &batched)
		})
	}
}

// BenchmarkDeliveryLifecycle is the writer's time a delivery: its leased row written and
// its successful attempt recorded (see storetest.BenchDeliveryLifecycle).
func BenchmarkDeliveryLifecycle(b *testing.B) {
	s, err := sqlite.Open(context.Background(), b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchDeliveryLifecycle(b, s)
}

// BenchmarkRoomEventsAfter is a stream's replay: one room's last ten events read after a
// number, among 1,000 rooms of 100 events each.
func BenchmarkRoomEventsAfter(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	for i := range 1000 {
		room := "r" + strconv.Itoa(i)
		if err := s.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertRoom(chat.Room{ID: room, Name: "R", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			for j := range 100 {
				e := &chat.Event{ID: "evt_" + room + "_" + strconv.Itoa(j), Type: chat.EventMessageSend, RoomID: room, CreatedAt: t0, Payload: json.RawMessage(`{}`)}
				if err := tx.AppendEvent(e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		evs, err := s.RoomEventsAfter(ctx, "r500", 90, 100)
		if err != nil || len(evs) != 10 {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
}
