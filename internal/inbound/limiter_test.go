package inbound

import (
	"fmt"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/clock"
)

func TestRoomLimiter(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(1, 2, c).(*RoomLimiter)
	for i := range 2 {
		if ok, _ := l.Allow("a", c.Now()); !ok {
			t.Fatalf("burst message %d refused", i)
		}
	}
	ok, wait := l.Allow("a", c.Now())
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("over the burst: %v %v", ok, wait)
	}
	if ok, _ := l.Allow("b", c.Now()); !ok {
		t.Fatal("rooms share a bucket")
	}
	c.Advance(500 * time.Millisecond)
	if ok, wait := l.Allow("a", c.Now()); ok || wait != 500*time.Millisecond {
		t.Fatalf("half a second later: %v %v", ok, wait)
	}
	c.Advance(500 * time.Millisecond)
	if ok, _ := l.Allow("a", c.Now()); !ok {
		t.Fatal("refill refused")
	}
	// Idle buckets are evicted.
	for i := range 1000 {
		l.Allow(fmt.Sprint("room", i), c.Now())
	}
	if l.Len() < 1000 {
		t.Fatalf("%d buckets", l.Len())
	}
	c.Advance(time.Hour)
	l.Allow("z", c.Now())
	if l.Len() != 1 {
		t.Fatalf("%d buckets after an idle hour, want 1", l.Len())
	}
	if _, ok := NewLimiter(0, 1, c).(Unlimited); !ok {
		t.Fatal("rate 0 is not unlimited")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("%v: %d, want %d", d, got, want)
		}
	}
}

// TestRoomLimiterTimesRequestsOnArrival: a request is taken at the time it arrived, so one
// the server was slow to check does not push its room's next request over the rate.
func TestRoomLimiterTimesRequestsOnArrival(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(1, 1, c)
	arrived := c.Now()
	c.Advance(300 * time.Millisecond) // checked 300 ms after it arrived
	if ok, _ := l.Allow("a", arrived); !ok {
		t.Fatal("first request refused")
	}
	c.Set(arrived.Add(900 * time.Millisecond))
	// (The bucket's arithmetic is in floating point: waits are right to within a microsecond.)
	near := func(d, want time.Duration) bool { return d > want-time.Microsecond && d < want+time.Microsecond }
	if ok, wait := l.Allow("a", c.Now()); ok || !near(wait, 100*time.Millisecond) {
		t.Fatalf("0.9 s after the first arrived: %v, retry after %v (want 100ms)", ok, wait)
	}
	c.Set(arrived.Add(time.Second))
	if ok, wait := l.Allow("a", c.Now()); !ok {
		t.Fatalf("a second after the first arrived: refused, retry after %v", wait)
	}
}

// TestRoomLimiterLateCheckEarnsNothing: a request that arrived first but is checked after a
// later one (its body came slowly) does not move the room's bucket back in time, so it
// cannot earn a second message within the period.
func TestRoomLimiterLateCheckEarnsNothing(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(1, 1, c)
	t0 := c.Now()
	c.Set(t0.Add(900 * time.Millisecond))
	if ok, _ := l.Allow("a", c.Now()); !ok {
		t.Fatal("the room's first checked request refused")
	}
	c.Set(t0.Add(950 * time.Millisecond))
	if ok, _ := l.Allow("a", t0); ok { // arrived at 0, checked at 0.95 s
		t.Fatal("a request checked late took a second message within the period")
	}
	c.Set(t0.Add(time.Second))
	if ok, wait := l.Allow("a", c.Now()); ok {
		t.Fatal("0.1 s after the room's message, another was allowed")
	} else if wait <= 0 || wait > 900*time.Millisecond+time.Microsecond {
		t.Fatalf("retry after %v, want 0.9 s", wait)
	}
	c.Set(t0.Add(1900 * time.Millisecond))
	if ok, _ := l.Allow("a", c.Now()); !ok {
		t.Fatal("a second after the room's message, refused")
	}
}
