package delivery

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// outcomeSpy counts the writes that record outcomes, by whether they were marked
// chat.Unwaited (the store's commit window counts on that mark).
type outcomeSpy struct {
	chat.Store
	marked, unmarked atomic.Int32
}

func (s *outcomeSpy) Write(ctx context.Context, fn func(chat.Tx) error) error {
	var records bool
	err := s.Store.Write(ctx, func(tx chat.Tx) error { return fn(completeSpy{tx, &records}) })
	if records {
		if chat.IsUnwaited(ctx) {
			s.marked.Add(1)
		} else {
			s.unmarked.Add(1)
		}
	}
	return err
}

type completeSpy struct {
	chat.Tx
	seen *bool
}

func (c completeSpy) CompleteDeliveries(rs []chat.DeliveryResult) error {
	*c.seen = true
	return c.Tx.CompleteDeliveries(rs)
}

// The engine marks its writes of outcomes as unwaited: nobody waits on their latency.
func TestOutcomesAreWrittenUnwaited(t *testing.T) {
	r := newRace(t, http.StatusOK)
	spy := &outcomeSpy{Store: r.st}
	o := r.e.o
	o.Store = spy
	r.e = New(o)
	r.start()
	r.handOver()
	eventually(t, 10*time.Second, "the outcome recorded", func() bool { return spy.marked.Load()+spy.unmarked.Load() > 0 })
	if n := spy.unmarked.Load(); n != 0 {
		t.Fatalf("%d writes of outcomes were not marked unwaited", n)
	}
}
