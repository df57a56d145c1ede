package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
)

func TestRoomLimiterAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	_ = pgtest.OpenURL(t, url) // applies the migrations
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	var nodes []*postgres.RoomLimiter
	for range 3 {
		pool, err := postgres.Pool(ctx, url, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		nodes = append(nodes, postgres.NewRoomLimiter(pool, fake, 1, 1))
	}
	// 30 concurrent attempts on one room from three nodes at one instant: exactly one wins.
	var won atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, wait, err := nodes[i%3].Allow(ctx, "r1", fake.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				won.Add(1)
			} else if wait <= 0 || wait > time.Second {
				t.Errorf("retry after %v", wait)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d posts allowed at one instant, want 1", won.Load())
	}
	// Another room has its own bucket.
	if ok, _, _ := nodes[1].Allow(ctx, "r2", fake.Now()); !ok {
		t.Fatal("r2 throttled by r1")
	}
	fake.Advance(600 * time.Millisecond)
	ok, wait, _ := nodes[2].Allow(ctx, "r1", fake.Now())
	if ok || wait < 350*time.Millisecond || wait > 450*time.Millisecond {
		t.Fatalf("after 0.6s: ok %v retry after %v (want about 0.4s)", ok, wait)
	}
	fake.Advance(400 * time.Millisecond)
	if ok, _, _ := nodes[0].Allow(ctx, "r1", fake.Now()); !ok {
		t.Fatal("not allowed after a full second")
	}
	// Over a simulated minute at 10 attempts/s spread over nodes, about 60 get through.
	allowed := 0
	for i := range 600 {
		fake.Advance(100 * time.Millisecond)
		if ok, _, _ := nodes[i%3].Allow(ctx, "r3", fake.Now()); ok {
			allowed++
		}
	}
	if allowed < 59 || allowed > 61 {
		t.Fatalf("%d allowed in 60s at 1/s", allowed)
	}
}

// TestRoomLimiterBatchesChecks: checks that queue while a statement runs share the next
// ones (a room at most once per statement), and each room still gets exactly its one
// token at one instant. The first statement is held by a lock on its room's bucket until
// every other check has queued.
func TestRoomLimiterBatchesChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, pool, fake, url := testLimiter(t, 2)
	const rooms = 50
	// Hold room-0's bucket (created first) so that the first statement waits.
	if ok, _, err := l.Allow(ctx, "room-0", fake.Now()); !ok || err != nil {
		t.Fatalf("room-0: %v %v", ok, err)
	}
	fake.Advance(time.Second)
	release := holdBucket(t, url, "room-0")
	statements := pool.Stat().AcquireCount()
	var won [rooms]atomic.Int64
	var wg sync.WaitGroup
	check := func(i int) {
		defer wg.Done()
		ok, wait, err := l.Allow(ctx, fmt.Sprintf("room-%d", i%rooms), fake.Now())
		if err != nil {
			t.Error(err)
			return
		}
		if ok {
			won[i%rooms].Add(1)
		} else if wait < 400*time.Millisecond || wait > 500*time.Millisecond {
			t.Errorf("retry after %v, want 0.5s", wait)
		}
	}
	wg.Add(1)
	go check(0) // the first statement: waits for the lock
	apptest.Eventually(t, 10*time.Second, "the first check sent", func() bool { return pool.Stat().AcquireCount() > statements })
	for i := 1; i < 3*rooms; i++ {
		wg.Add(1)
		go check(i)
	}
	apptest.Eventually(t, 10*time.Second, "every other check queued", func() bool { return l.Queued() == 3*rooms-1 })
	release()
	wg.Wait()
	// 1 statement for room-0, then 149 checks of 50 rooms: three statements of distinct rooms.
	if n := pool.Stat().AcquireCount() - statements; n != 4 {
		t.Fatalf("%d statements for %d checks, want 4", n, 3*rooms)
	}
	for i := range won {
		if n := won[i].Load(); n != 1 {
			t.Fatalf("room-%d: %d posts allowed at one instant, want 1", i, n)
		}
	}
	fake.Advance(500 * time.Millisecond)
	if ok, _, err := l.Allow(ctx, "room-7", fake.Now()); !ok || err != nil {
		t.Fatalf("after 0.5s at 2/s: ok %v, %v", ok, err)
	}
	// A check whose caller gives up returns at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Allow(cctx, "room-8", fake.Now()); err == nil {
		t.Fatal("a cancelled check returned no error")
	}
}

// TestRoomLimiterTimesChecksOnArrival: a check that queues behind a slow statement takes
// its token at the time it arrived. A client posting to a room exactly once a second must
// never be throttled because the limiter's own statement before it was slow. The slow
// statement is held by a lock on another room's bucket while the fake clock moves on.
func TestRoomLimiterTimesChecksOnArrival(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, pool, fake, url := testLimiter(t, 1)
	if ok, _, err := l.Allow(ctx, "slow", fake.Now()); !ok || err != nil { // creates the bucket to hold
		t.Fatalf("slow: %v %v", ok, err)
	}
	fake.Advance(time.Second)
	release := holdBucket(t, url, "slow")
	statements := pool.Stat().AcquireCount()
	slowDone := make(chan error, 1)
	go func() {
		_, _, err := l.Allow(ctx, "slow", fake.Now())
		slowDone <- err
	}()
	apptest.Eventually(t, 10*time.Second, "the slow statement sent", func() bool { return pool.Stat().AcquireCount() > statements })

	// The room's first post arrives while the slow statement waits, and is answered only
	// after the clock has moved on by 300 ms.
	arrived := fake.Now()
	first := make(chan bool, 1)
	go func() {
		ok, _, err := l.Allow(ctx, "room", arrived)
		if err != nil {
			t.Error(err)
		}
		first <- ok
	}()
	apptest.Eventually(t, 10*time.Second, "the room's check queued", func() bool { return l.Queued() == 1 })
	fake.Advance(300 * time.Millisecond)
	release()
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	if !<-first {
		t.Fatal("the room's first post was throttled")
	}

	// A second after the first post arrived, the next is allowed; just before, it is not,
	// and the retry it is told waits for the second to end, not for the slow statement.
	fake.Set(arrived.Add(900 * time.Millisecond))
	ok, wait, err := l.Allow(ctx, "room", fake.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok || wait < 90*time.Millisecond || wait > 110*time.Millisecond {
		t.Fatalf("0.9 s after the first post: ok %v, retry after %v (want about 0.1 s)", ok, wait)
	}
	fake.Set(arrived.Add(time.Second))
	if ok, wait, err := l.Allow(ctx, "room", fake.Now()); !ok || err != nil {
		t.Fatalf("a second after the first post: ok %v, retry after %v, %v (throttled by the slow statement before it)", ok, wait, err)
	}
}

// TestRoomLimiterAfterClockStepsBack: after the clock steps an hour back, an empty bucket
// refills one period later, not an hour later.
func TestRoomLimiterAfterClockStepsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, fake, _ := testLimiter(t, 1)
	if ok, _, err := l.Allow(ctx, "r", fake.Now()); !ok || err != nil {
		t.Fatalf("first post: %v %v", ok, err)
	}
	fake.Advance(-time.Hour)
	ok, wait, err := l.Allow(ctx, "r", fake.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("right after the step back: ok %v, retry after %v (want at most a second)", ok, wait)
	}
	fake.Advance(time.Second)
	if ok, wait, err := l.Allow(ctx, "r", fake.Now()); !ok || err != nil {
		t.Fatalf("a second after the step back: ok %v, retry after %v, %v", ok, wait, err)
	}
}

// TestRoomLimiterLateCheckEarnsNothing: a post that arrived first but is checked after a
// later one does not move the room's bucket back in time, so it cannot earn a second post
// within the period.
func TestRoomLimiterLateCheckEarnsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, fake, _ := testLimiter(t, 1)
	t0 := fake.Now()
	fake.Set(t0.Add(900 * time.Millisecond))
	if ok, _, err := l.Allow(ctx, "r", fake.Now()); !ok || err != nil {
		t.Fatalf("the room's first checked post: %v %v", ok, err)
	}
	fake.Set(t0.Add(950 * time.Millisecond))
	if ok, _, err := l.Allow(ctx, "r", t0); ok || err != nil { // arrived at 0, checked at 0.95 s
		t.Fatalf("a post checked late: ok %v, %v (want refused)", ok, err)
	}
	fake.Set(t0.Add(time.Second))
	if ok, _, err := l.Allow(ctx, "r", fake.Now()); ok || err != nil {
		t.Fatalf("0.1 s after the room's post: ok %v, %v (want refused)", ok, err)
	}
	fake.Set(t0.Add(1900 * time.Millisecond))
	if ok, wait, err := l.Allow(ctx, "r", fake.Now()); !ok || err != nil {
		t.Fatalf("a second after the room's post: ok %v, retry after %v, %v", ok, wait, err)
	}
}

// testLimiter returns a limiter of rate tokens a second (burst 1) on a fake clock, over a
// pool of four connections on a migrated test database (closed when the test ends), and
// the database's URL.
func testLimiter(t *testing.T, rate float64) (*postgres.RoomLimiter, *pgxpool.Pool, *clock.Fake, string) {
	t.Helper()
	url := pgtest.URL(t)
	_ = pgtest.OpenURL(t, url) // applies the migrations
	pool, err := postgres.Pool(context.Background(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fake := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	return postgres.NewRoomLimiter(pool, fake, rate, 1), pool, fake, url
}

// holdBucket locks room's bucket from a connection of its own until release is called:
// the limiter's next statement that takes a token for room waits for it.
func holdBucket(t *testing.T, url, room string) (release func()) {
	t.Helper()
	ctx := context.Background()
	other, err := postgres.Pool(ctx, url, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	holder, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT 1 FROM room_rate WHERE room_id = $1 FOR UPDATE`, room); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := holder.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
