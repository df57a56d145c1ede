package sqlstore

import (
	"fmt"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// The delivery log's retention walks deliveries by seq and events by pos: their primary
// keys, in commit order, which is creation order give or take a commit and the nodes'
// clocks. Each step reads a window of at most limit rows after the cursor through the
// primary key, then deletes what may go within that window by primary-key range, so a step
// costs the same whatever the tables hold, and rows that must stay at the old end (an
// unfinished delivery, an event it names) are stepped over once per walk, not once per
// step. A walk ends with a window that holds no row created before the cut-off (or with
// the end of the table): one row stamped by a clock running ahead does not end it.
//
// The newest row of each table is never deleted: SQLite gives a new row the greatest
// rowid plus one, so deleting the newest would hand its position out again, and positions
// (Reader.Events, delivery order) must only grow.
const (
	// qDeliveryWindow: how many deliveries follow ?1 (up to ?2), the last one's seq and the
	// oldest creation time among them.
	qDeliveryWindow = `SELECT COUNT(*), COALESCE(MAX(seq), 0), COALESCE(MIN(created_at), 0)
		FROM (SELECT seq, created_at FROM deliveries WHERE seq > ?1 ORDER BY seq LIMIT ?2) AS w`
	// prunableDeliveries: the finished deliveries of the window (?1, ?2] created before ?3.
	prunableDeliveries = `seq > ?1 AND seq <= ?2 AND created_at < ?3 AND status IN ('succeeded', 'dead')
		AND seq < (SELECT MAX(seq) FROM deliveries)`
	// The attempts go first, counted; the foreign key's cascade would take them anyway.
	qPruneAttempts   = `DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE ` + prunableDeliveries + `)`
	qPruneDeliveries = `DELETE FROM deliveries WHERE ` + prunableDeliveries

	// qEventWindow is qDeliveryWindow for events.
	qEventWindow = `SELECT COUNT(*), COALESCE(MAX(pos), 0), COALESCE(MIN(created_at), 0)
		FROM (SELECT pos, created_at FROM events WHERE pos > ?1 ORDER BY pos LIMIT ?2) AS w`
	// qPruneEvents deletes the events of the window (?1, ?2] created before ?3, except those
	// an unfinished delivery names (its attempts need the event), each existing room's
	// newest event (its number is the room's last one: the room's next event is numbered
	// from it, and the console shows it as the room's last activity) and the newest event.
	// The event ids of the unfinished deliveries are read once per statement, through the
	// partial indexes of the pending and the retried deliveries (there is no index of
	// deliveries by event: it would cost every delivery written an index entry): a hash on
	// PostgreSQL, an automatic index on SQLite.
	qPruneEvents = `WITH unfinished AS MATERIALIZED (
		SELECT event_id FROM deliveries WHERE status = 'pending'
		UNION ALL
		SELECT event_id FROM deliveries WHERE status = 'failed')
	DELETE FROM events WHERE pos > ?1 AND pos <= ?2 AND created_at < ?3 AND pos < (SELECT MAX(pos) FROM events)
		AND (room_id = '' OR NOT EXISTS (SELECT 1 FROM rooms WHERE rooms.id = events.room_id)
			OR room_seq < (SELECT MAX(e.room_seq) FROM events e WHERE e.room_id = events.room_id AND e.room_id <> ''))
		AND NOT EXISTS (SELECT 1 FROM unfinished u WHERE u.event_id = events.id)`
)

// On PostgreSQL the events of a step are joined to the unfinished deliveries by hashing
// (or merging), never by a nested loop: a plan made while few deliveries were unfinished,
// kept as a generic plan, would otherwise scan every unfinished delivery once per event.
const (
	HashJoins    = `SET LOCAL enable_nestloop = off`
	DefaultJoins = `SET LOCAL enable_nestloop TO DEFAULT`
)

// RetentionStatements are the statements of a retention step, and of the idempotency
// keys' pruning (for plan tests).
var RetentionStatements = []string{qDeliveryWindow, qPruneAttempts, qPruneDeliveries, qEventWindow, qPruneEvents, qPruneKeys}

// PruneDeliveries implements chat.Tx.
func (t *Tx) PruneDeliveries(before time.Time, after int64, limit int) (chat.PruneStep, error) {
	var st chat.PruneStep
	err := t.pruneStep(qDeliveryWindow, before, after, limit, &st, func(end int64) error {
		n, err := t.exec(qPruneAttempts, after, end, micros(before))
		if err != nil {
			return t.s.mapErr(err, "prune delivery attempts")
		}
		st.Attempts = n
		if st.Deleted, err = t.exec(qPruneDeliveries, after, end, micros(before)); err != nil {
			return t.s.mapErr(err, "prune deliveries")
		}
		return nil
	})
	return st, err
}

// PruneEvents implements chat.Tx.
func (t *Tx) PruneEvents(before time.Time, after int64, limit int) (chat.PruneStep, error) {
	var st chat.PruneStep
	err := t.pruneStep(qEventWindow, before, after, limit, &st, func(end int64) (err error) {
		if t.s.d.RoundTrips {
			if err := t.deferExec("prune events", HashJoins); err != nil {
				return err
			}
			defer func() {
				if rerr := t.deferExec("prune events", DefaultJoins); err == nil {
					err = rerr
				}
			}()
		}
		if st.Deleted, err = t.exec(qPruneEvents, after, end, micros(before)); err != nil {
			return t.s.mapErr(err, "prune events")
		}
		return nil
	})
	return st, err
}

// pruneStep reads the window after `after` with window (one of the window queries), fills
// st.Next and st.Done, and runs del on the window's end unless the window is empty. On
// PostgreSQL the statements are planned with sequential scans priced out (IndexPlans), so a
// plan made while a table was small cannot scan it whole once it has grown.
func (t *Tx) pruneStep(window string, before time.Time, after int64, limit int, st *chat.PruneStep, del func(end int64) error) (err error) {
	if limit <= 0 {
		return fmt.Errorf("store: prune: limit %d is not positive", limit)
	}
	if t.s.d.RoundTrips {
		// Deferred: each setting goes with the statement that follows it, not in a round trip
		// of its own under the batch lock.
		if err := t.deferExec("prune", IndexPlans); err != nil {
			return err
		}
		defer func() {
			if rerr := t.deferExec("prune", DefaultPlans); err == nil {
				err = rerr
			}
		}()
	}
	var n, end, oldest int64
	if err := t.row(window, after, limit).Scan(&n, &end, &oldest); err != nil {
		return fmt.Errorf("store: prune window: %w", err)
	}
	*st = chat.PruneStep{Next: end, Done: n < int64(limit) || oldest >= micros(before)}
	if n == 0 {
		st.Next, st.Done = after, true
		return nil
	}
	return del(end)
}
