package sqlite_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

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
