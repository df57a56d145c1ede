package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// BenchmarkConcurrentMessageInserts measures the PostgreSQL writers: 64 concurrent
// producers (32 per CPU on 2 CPUs), each waiting for its own commit before the next.
// "insert": one op = one message row + its outbox event (with the room sequence update);
// "post": also what the writer reads for a webhook post (the room as a post reads it,
// endpoint routes).
func BenchmarkConcurrentMessageInserts(b *testing.B) {
	for _, shape := range []string{"insert", "post"} {
		b.Run(shape, func(b *testing.B) {
			var batches, batched atomic.Int64
			s, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{Options: sqlstore.Options{
				ObserveBatch: func(n int, _ time.Duration) { batches.Add(1); batched.Add(int64(n)) }}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchMessageWrites(b, s, 100, shape == "post", &batches, &batched)
		})
	}
}

// BenchmarkDeliveryLifecycle is the writer's time a delivery: its leased row written and
// its successful attempt recorded (see storetest.BenchDeliveryLifecycle).
func BenchmarkDeliveryLifecycle(b *testing.B) {
	s, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchDeliveryLifecycle(b, s)
}
