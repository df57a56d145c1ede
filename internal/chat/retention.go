package chat

import (
	"context"
	"time"
)

// PruneStep is what one step of the delivery log's retention did (Tx.PruneDeliveries,
// Tx.PruneEvents). A step examines a bounded window of rows in commit order; Next is where
// the next step's window starts.
type PruneStep struct {
	Deleted  int64 // deliveries or events deleted
	Attempts int64 // delivery attempts deleted with the deliveries
	// Next is the position of the last row examined (the next step starts after it).
	Next int64
	// Done: the window was the last one worth examining: it reached the end of the table,
	// or none of its rows was created before the cut-off.
	Done bool
}

// DeliveryLogBatch is how many deliveries, and how many events, one step of the delivery
// log's retention examines at most. Each step is its own write, so writes queued behind a
// step wait for at most this much work.
const DeliveryLogBatch = 1000

// DeliveryLogPruned counts what PruneDeliveryLog deleted.
type DeliveryLogPruned struct {
	Before                       time.Time // the cut-off: rows created before it could go
	Deliveries, Attempts, Events int64
}

// Rows is the number of rows deleted.
func (p DeliveryLogPruned) Rows() int64 { return p.Deliveries + p.Attempts + p.Events }

// PruneDeliveryLog deletes the deliveries that finished (succeeded or dead) and were created
// more than retention ago, with their attempts, and then the outbox events created more than
// retention ago that no unfinished delivery still needs (see Tx.PruneEvents for the few that
// are kept). It walks each table from its oldest row in steps of DeliveryLogBatch rows, each
// step its own write, until a step finds only rows younger than the cut-off; it stops early
// when ctx ends. Messages (the chat history) are never pruned. retention <= 0 does nothing.
func (s *Service) PruneDeliveryLog(ctx context.Context, retention time.Duration) (DeliveryLogPruned, error) {
	if retention <= 0 {
		return DeliveryLogPruned{}, nil
	}
	before := s.now().Add(-retention)
	out := DeliveryLogPruned{Before: before}
	// Deliveries first: an event can go once no unfinished delivery names it.
	d, a, err := s.pruneWalk(ctx, func(tx Tx, after int64) (PruneStep, error) {
		return tx.PruneDeliveries(before, after, DeliveryLogBatch)
	})
	out.Deliveries, out.Attempts = d, a
	if err != nil {
		return out, err
	}
	out.Events, _, err = s.pruneWalk(ctx, func(tx Tx, after int64) (PruneStep, error) {
		return tx.PruneEvents(before, after, DeliveryLogBatch)
	})
	return out, err
}

// maxPrunePause bounds the pause between two steps of the delivery log's retention.
const maxPrunePause = time.Second

// pruneWalk runs step, each time in a write of its own, from the start of its table until
// a step is done or ctx ends; it returns the rows and attempts deleted. After a step that
// deleted rows it pauses as long as the step took (up to maxPrunePause), so that catching
// up with a long history (the first start with a retention, or a shorter one) takes at
// most about half of the writer's time. The pause is measured on the wall clock: it paces
// the work, it schedules nothing.
func (s *Service) pruneWalk(ctx context.Context, step func(tx Tx, after int64) (PruneStep, error)) (rows, attempts int64, err error) {
	var after int64
	var pause *time.Timer
	defer func() {
		if pause != nil {
			pause.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return rows, attempts, err
		}
		var st PruneStep
		began := time.Now()
		err := s.store.Write(ctx, func(tx Tx) error {
			var err error
			st, err = step(tx, after)
			return err
		})
		if err != nil {
			return rows, attempts, err
		}
		rows, attempts = rows+st.Deleted, attempts+st.Attempts
		if st.Done || st.Next <= after {
			return rows, attempts, nil
		}
		after = st.Next
		if st.Deleted == 0 {
			continue
		}
		d := min(time.Since(began), maxPrunePause)
		if pause == nil {
			pause = time.NewTimer(d)
		} else {
			pause.Reset(d)
		}
		select {
		case <-ctx.Done():
			return rows, attempts, ctx.Err()
		case <-pause.C:
		}
	}
}
