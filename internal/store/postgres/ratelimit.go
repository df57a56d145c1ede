package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/clock"
)

// RoomLimiter is a token bucket per room kept in the database, so the per-room incoming
// rate limit holds across every node sharing it. One statement per check: it refills the
// bucket for the time elapsed, takes a token if there is one, and otherwise reports how
// long until there will be.
type RoomLimiter struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	rate  float64 // tokens per second
	burst float64
}

// NewRoomLimiter returns a limiter of rate tokens/s with the given burst (rate 0: no limit).
func NewRoomLimiter(pool *pgxpool.Pool, c clock.Clock, rate float64, burst int) *RoomLimiter {
	if burst < 1 {
		burst = 1
	}
	return &RoomLimiter{pool: pool, clock: c, rate: rate, burst: float64(burst)}
}

const qTakeToken = `
WITH taken AS (
    INSERT INTO room_rate AS rr (room_id, tokens, at) VALUES ($1, $3 - 1, $2)
    ON CONFLICT (room_id) DO UPDATE
        SET tokens = LEAST($3, rr.tokens + GREATEST(0, $2 - rr.at) * $4 / 1e6) - 1, at = GREATEST(rr.at, $2)
        WHERE LEAST($3, rr.tokens + GREATEST(0, $2 - rr.at) * $4 / 1e6) >= 1
    RETURNING 1
)
SELECT TRUE, 0::float8 FROM taken
UNION ALL
SELECT FALSE, LEAST($3, tokens + GREATEST(0, $2 - at) * $4 / 1e6) FROM room_rate
WHERE room_id = $1 AND NOT EXISTS (SELECT 1 FROM taken)`

// Allow takes a token for room; when none is left it returns false and how long until one
// is.
func (l *RoomLimiter) Allow(ctx context.Context, room string) (bool, time.Duration, error) {
	if l.rate <= 0 {
		return true, 0, nil
	}
	var ok bool
	var tokens float64
	err := l.pool.QueryRow(ctx, qTakeToken, room, l.clock.Now().UnixMicro(), l.burst, l.rate).Scan(&ok, &tokens)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another node created the room's bucket concurrently (its row is not in this
		// statement's snapshot) and took its token: throttled, with an empty bucket.
		ok, tokens, err = false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("postgres: room rate limit: %w", err)
	}
	if ok {
		return true, 0, nil
	}
	wait := time.Duration(math.Ceil((1 - tokens) / l.rate * float64(time.Second)))
	return false, max(wait, time.Millisecond), nil
}
