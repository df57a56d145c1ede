package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/clock"
)

// RoomLimiter is a token bucket per room kept in the database, so the per-room incoming
// rate limit holds across every node sharing it. The checks of concurrent posts share one
// statement (a round trip per batch, not per post): it refills each room's bucket for the
// time elapsed, takes a token where there is one, and otherwise reports how long until
// there will be.
//
// Goroutines: Allow queues its check and waits for the answer; while checks are queued
// one leader goroutine (started by the Allow that finds none running, ending when the
// queue is empty) runs batches. mu guards queue (checks not yet sent) and leading (a
// leader runs).
type RoomLimiter struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	queue   []*takeReq
	leading bool
}

type takeReq struct {
	room   string
	at     time.Time // when the post arrived: the time its token is taken at
	ok     bool
	tokens float64 // when !ok: the tokens the bucket holds
	err    error
	done   chan struct{}
}

// NewRoomLimiter returns a limiter of rate tokens/s with the given burst (rate 0: no limit).
func NewRoomLimiter(pool *pgxpool.Pool, c clock.Clock, rate float64, burst int) *RoomLimiter {
	if burst < 1 {
		burst = 1
	}
	return &RoomLimiter{pool: pool, clock: c, rate: rate, burst: float64(burst)}
}

// qTakeTokens takes a token for each room of $1 (distinct, sorted so that concurrent
// batches lock buckets in the same order) at the time in $2 that its post arrived;
// rooms it could not take one for come back with the tokens their bucket holds at that
// time. A room in neither part had its bucket created by another node concurrently (not
// in this statement's snapshot), which took its token. A bucket's time never goes back
// for a post that arrived before the last one checked (held back, it earns nothing),
// only when this node's clock ($5, now) is behind the bucket: after the clock steps back,
// a refused post moves the bucket back with it, so the room refills one period later,
// not once the clock has caught up. The buckets are read through the primary key whatever
// the table's size: a cached statement's generic plan cannot see how few rooms the array
// holds, and joined plainly it scanned every room's bucket, twice, at a cost growing with
// the rooms. The update names the rooms by "room_id = ANY($1)" besides its join; the final
// read looks each room up on its own (OFFSET 0 keeps the planner from turning that back
// into a join).
const qTakeTokens = `
WITH req AS (
    SELECT r, at FROM unnest($1::text[], $2::bigint[]) AS t(r, at)
), taken AS (
    INSERT INTO room_rate AS rr (room_id, tokens, at) SELECT r, $3 - 1, at FROM req
    ON CONFLICT (room_id) DO UPDATE
        SET tokens = LEAST($3, rr.tokens + GREATEST(0, excluded.at - rr.at) * $4 / 1e6) - 1,
            at = GREATEST(rr.at, excluded.at)
        WHERE LEAST($3, rr.tokens + GREATEST(0, excluded.at - rr.at) * $4 / 1e6) >= 1
    RETURNING room_id
), back AS (
    UPDATE room_rate rr SET at = req.at FROM req
    WHERE rr.room_id = ANY($1) AND rr.room_id = req.r AND req.at < rr.at AND $5 < rr.at AND rr.room_id NOT IN (SELECT room_id FROM taken)
)
SELECT room_id, TRUE, 0::float8 FROM taken
UNION ALL
SELECT rr.room_id, FALSE, LEAST($3, rr.tokens + GREATEST(0, req.at - rr.at) * $4 / 1e6)
FROM req CROSS JOIN LATERAL (SELECT * FROM room_rate b WHERE b.room_id = req.r OFFSET 0) rr
WHERE rr.room_id NOT IN (SELECT room_id FROM taken)`

// statementTimeout bounds one batch's statement.
const statementTimeout = 5 * time.Second

// Allow takes a token for room at time at (when the post arrived); when none is left it
// returns false and how long until one is.
func (l *RoomLimiter) Allow(ctx context.Context, room string, at time.Time) (bool, time.Duration, error) {
	if l.rate <= 0 {
		return true, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("postgres: room rate limit: %w", err)
	}
	// The check is timed by the post's arrival, not by when its statement is sent: a check
	// that queued behind a slow statement must not find its room's previous token taken
	// later than it was, or a client keeping exactly to the rate would be throttled.
	r := &takeReq{room: room, at: at, done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, r)
	lead := !l.leading
	l.leading = true
	l.mu.Unlock()
	if lead {
		go l.lead()
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return false, 0, fmt.Errorf("postgres: room rate limit: %w", ctx.Err())
	}
	if r.err != nil {
		return false, 0, fmt.Errorf("postgres: room rate limit: %w", r.err)
	}
	if r.ok {
		return true, 0, nil
	}
	// The bucket refills from the check's arrival; part of that wait has passed since.
	wait := time.Duration(math.Ceil((1-r.tokens)/l.rate*float64(time.Second))) - l.clock.Now().Sub(r.at)
	return false, max(wait, time.Millisecond), nil
}

// lead runs batches until the queue is empty. A batch holds each room once (a second
// check of the same room waits for the next batch, so it sees the first one's take).
func (l *RoomLimiter) lead() {
	for {
		l.mu.Lock()
		var batch, rest []*takeReq
		seen := map[string]bool{}
		for _, r := range l.queue {
			if seen[r.room] {
				rest = append(rest, r)
				continue
			}
			seen[r.room] = true
			batch = append(batch, r)
		}
		l.queue = rest
		if len(batch) == 0 {
			l.leading = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.take(batch)
	}
}

// take runs one batch and answers its checks. A panic fails the batch, never the process.
func (l *RoomLimiter) take(batch []*takeReq) {
	slices.SortFunc(batch, func(a, b *takeReq) int { return strings.Compare(a.room, b.room) })
	byRoom := make(map[string]*takeReq, len(batch))
	rooms := make([]string, 0, len(batch))
	ats := make([]int64, 0, len(batch))
	for _, r := range batch {
		byRoom[r.room] = r
		rooms = append(rooms, r.room)
		ats = append(ats, r.at.UnixMicro())
	}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
		defer cancel()
		rows, err := l.pool.Query(ctx, qTakeTokens, rooms, ats, l.burst, l.rate, l.clock.Now().UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var room string
			var ok bool
			var tokens float64
			if err := rows.Scan(&room, &ok, &tokens); err != nil {
				return err
			}
			if r := byRoom[room]; r != nil {
				r.ok, r.tokens = ok, tokens
			}
		}
		return rows.Err()
	}()
	for _, r := range batch {
		r.err = err // rooms in no row: throttled with an empty bucket (ok false, tokens 0)
		close(r.done)
	}
}
