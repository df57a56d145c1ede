package inbound

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chathooks/chathooks/internal/clock"
)

// Limiter decides whether a room may take one more incoming message now. It is an
// interface so a cross-node limiter (PostgreSQL scale-out) can replace the in-memory one.
type Limiter interface {
	// Allow takes one message from the room's budget at time at, when the request arrived
	// (not when the server got round to checking it: a request the server was slow to
	// authenticate must not make a client that keeps exactly to the rate exceed it); when
	// there is none it returns false and how long until there is.
	Allow(roomID string, at time.Time) (ok bool, retryAfter time.Duration)
}

// Unlimited is the Limiter that allows everything.
type Unlimited struct{}

// Allow implements Limiter.
func (Unlimited) Allow(string, time.Time) (bool, time.Duration) { return true, 0 }

// RoomLimiter is an in-memory token bucket per room (golang.org/x/time/rate) read on an
// injected clock. A bucket idle long enough to be full again is indistinguishable from a new
// one, so idle buckets are evicted and memory stays bounded by the rooms active in the
// last refill period.
type RoomLimiter struct {
	clock  clock.Clock
	limit  rate.Limit
	burst  int
	idle   time.Duration // after this long unused, a bucket is full again
	mu     sync.Mutex
	rooms  map[string]*bucket
	swept  time.Time
	sweeps time.Duration
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time // when it was last checked (for eviction)
	at   time.Time // the arrival time of the last request checked against it
}

// NewLimiter returns a per-room limiter of perSecond messages per second with the given
// burst (at least 1); perSecond <= 0 means unlimited.
func NewLimiter(perSecond float64, burst int, c clock.Clock) Limiter {
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		return Unlimited{}
	}
	if burst < 1 {
		burst = 1
	}
	if c == nil {
		c = clock.Real{}
	}
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RoomLimiter{
		clock: c, limit: rate.Limit(perSecond), burst: burst, idle: idle,
		rooms: map[string]*bucket{}, sweeps: max(idle, time.Second),
	}
}

// Allow implements Limiter. A request checked after a later-arrived one of its room is
// taken at that one's time, so holding a request back (a slow body) earns no extra
// message. Only when the clock itself is behind the bucket (it stepped back) does the
// bucket's time go back with it, so the room refills one period later, not once the clock
// has caught up.
func (l *RoomLimiter) Allow(roomID string, at time.Time) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.sweeps {
		l.sweep(now)
	}
	b := l.rooms[roomID]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.rooms[roomID] = b
	}
	b.used = now
	if at.Before(b.at) && !now.Before(b.at) {
		at = b.at
	}
	b.at = at
	r := b.lim.ReserveN(at, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(at); d > 0 {
		r.CancelAt(at)
		// The token comes d after the request arrived; part of that has passed since.
		return false, max(d-now.Sub(at), time.Millisecond)
	}
	return true, 0
}

// sweep drops buckets unused for longer than they take to refill.
func (l *RoomLimiter) sweep(now time.Time) {
	l.swept = now
	for id, b := range l.rooms {
		if now.Sub(b.used) > l.idle {
			delete(l.rooms, id)
		}
	}
}

// Len is the number of buckets held (for tests of eviction).
func (l *RoomLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rooms)
}
