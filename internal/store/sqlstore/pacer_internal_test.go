package sqlstore

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// sample feeds the pacer one period in which the writer ran wall of statement time and
// its thread was on a CPU for cpu of it, then returns the window.
func sample(p *pacer, now *time.Time, wall, cpu time.Duration) time.Duration {
	p.wall, p.cpu = wall, cpu
	*now = now.Add(pacePeriod)
	p.batchDone(two, *now)
	return p.window
}

// two is a batch of two waited-on requests.
var two = []*writeReq{{}, {}}

func TestPacerOpensUnderCPUShortage(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var told []time.Duration
	p := &pacer{max: 2 * time.Millisecond, since: now, clock: func() time.Duration { return 0 },
		observe: func(d time.Duration) { told = append(told, d) }}
	steps := []struct {
		wall, cpu time.Duration
		want      time.Duration
		why       string
	}{
		{400 * time.Millisecond, 380 * time.Millisecond, 0, "on a CPU 95 % of the time: no window"},
		{400 * time.Millisecond, 300 * time.Millisecond, 0, "waited 25 %: between the thresholds, stays closed"},
		{400 * time.Millisecond, 240 * time.Millisecond, 0, "waited 40 % once: not yet"},
		{400 * time.Millisecond, 360 * time.Millisecond, 0, "waited 10 %: the shortage did not last"},
		{400 * time.Millisecond, 240 * time.Millisecond, 0, "waited 40 %: once again"},
		{400 * time.Millisecond, 240 * time.Millisecond, paceFirst, "twice in a row: opens"},
		{400 * time.Millisecond, 240 * time.Millisecond, 2 * paceFirst, "still short: doubles"},
		{400 * time.Millisecond, 240 * time.Millisecond, 4 * paceFirst, "doubles to the maximum"},
		{400 * time.Millisecond, 240 * time.Millisecond, 4 * paceFirst, "never past the maximum"},
		{400 * time.Millisecond, 300 * time.Millisecond, 4 * paceFirst, "waited 25 %: between the thresholds, stays open"},
		{400 * time.Millisecond, 360 * time.Millisecond, 2 * paceFirst, "waited 10 %: halves"},
		{40 * time.Millisecond, 0, paceFirst, "too little statement time to judge: a quiet writer halves too"},
		{400 * time.Millisecond, 360 * time.Millisecond, 0, "closes below the first window"},
	}
	for i, s := range steps {
		if got := sample(p, &now, s.wall, s.cpu); got != s.want {
			t.Fatalf("step %d (%s): window %v, want %v", i, s.why, got, s.want)
		}
	}
	want := []time.Duration{paceFirst, 2 * paceFirst, 4 * paceFirst, 2 * paceFirst, paceFirst, 0}
	if !slices.Equal(told, want) {
		t.Fatalf("told windows %v, want each change once: %v", told, want)
	}
}

// A busy writer whose batches carry unwaited writes (delivery outcomes) opens the window
// even when it gets its CPU; a busy writer of waited-on writes only does not.
func TestPacerOpensForBusyUnwaitedWrites(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := &pacer{max: 2 * time.Millisecond, since: now, clock: func() time.Duration { return 0 }}
	period := func(busy time.Duration, batch []*writeReq) time.Duration {
		p.wall, p.cpu = 200*time.Millisecond, 190*time.Millisecond // on a CPU 95 % of the time
		now = now.Add(pacePeriod)
		p.busy, p.batch0 = busy, now // the period's batches, the last one ending as it began
		p.batchDone(batch, now)
		return p.window
	}
	outcome := []*writeReq{{}, {unwaited: true}}
	steps := []struct {
		busy  time.Duration
		batch []*writeReq
		want  time.Duration
		why   string
	}{
		{450 * time.Millisecond, two, 0, "busy 90 %, nothing unwaited: no window"},
		{450 * time.Millisecond, outcome, paceFirst, "busy 90 % with outcomes: opens"},
		{420 * time.Millisecond, outcome, 2 * paceFirst, "busy 84 %: doubles"},
		{300 * time.Millisecond, outcome, 2 * paceFirst, "busy 60 %: holds"},
		{200 * time.Millisecond, outcome, paceFirst, "busy 40 %: halves"},
		{450 * time.Millisecond, two, 0, "no outcomes any more: closes"},
	}
	for i, s := range steps {
		if got := period(s.busy, s.batch); got != s.want {
			t.Fatalf("step %d (%s): window %v, want %v", i, s.why, got, s.want)
		}
	}
}

func TestPacerReconsidersOncePerPeriod(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := &pacer{max: 2 * time.Millisecond, since: now, clock: func() time.Duration { return 0 }}
	p.short = true       // the period before was short of CPU too
	p.wall = time.Second // all of it waiting for a CPU
	p.batchDone(two, now.Add(pacePeriod-time.Nanosecond))
	if p.window != 0 || p.wall != time.Second {
		t.Fatalf("reconsidered before the period ended: window %v, sample %v", p.window, p.wall)
	}
	p.batchDone(two, now.Add(pacePeriod))
	if p.window != paceFirst || p.wall != 0 || p.cpu != 0 || p.busy != 0 || p.unwaited {
		t.Fatalf("after the period: window %v, sample %v/%v/%v (want a new sample)", p.window, p.wall, p.cpu, p.busy)
	}
}

func TestPacerWindowOnlyAfterABatchOfSeveral(t *testing.T) {
	var nilPacer *pacer
	if nilPacer.wait() != 0 {
		t.Fatal("no pacer, yet a window")
	}
	p := &pacer{max: 2 * time.Millisecond, window: time.Millisecond}
	for _, c := range []struct{ last, want int }{{0, 0}, {1, 0}, {2, 1}, {200, 1}} {
		p.last = c.last
		if got := p.wait(); got != time.Duration(c.want)*time.Millisecond {
			t.Fatalf("after a batch of %d: window %v", c.last, got)
		}
	}
}

// The commit (the disk's flush) is not statement time: only run..stop intervals count.
func TestPacerCountsStatementTimeOnly(t *testing.T) {
	var cpu time.Duration
	p := &pacer{max: 2 * time.Millisecond, since: time.Now(), clock: func() time.Duration { return cpu }}
	p.run()
	cpu += 3 * time.Millisecond
	p.stop()
	stopped := p.wall
	cpu += 50 * time.Millisecond // used while stopped: not counted
	p.run()
	cpu += 2 * time.Millisecond
	p.stop()
	p.stop() // a second stop without run counts nothing
	if p.cpu != 5*time.Millisecond {
		t.Fatalf("counted %v of CPU, want 5ms", p.cpu)
	}
	if p.wall < stopped {
		t.Fatalf("statement time went back: %v < %v", p.wall, stopped)
	}
}

// The thread clock counts the calling thread's running time only: while the writer's
// goroutine is blocked (its thread asleep), another thread's work does not show on it.
func TestThreadCPUCountsOnlyThisThread(t *testing.T) {
	if _, ok := threadCPU(); !ok {
		t.Skip("no per-thread CPU clock on " + runtime.GOOS)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, _ := threadCPU()
	const spin = 20 * time.Millisecond
	done := make(chan time.Duration)
	go func() {
		runtime.LockOSThread() // another thread
		defer runtime.UnlockOSThread()
		start, _ := threadCPU()
		for {
			if now, _ := threadCPU(); now-start >= spin {
				done <- now - start
				return
			}
		}
	}()
	other := <-done // this goroutine blocks; its locked thread sleeps
	after, _ := threadCPU()
	if other < spin {
		t.Fatalf("the spinning thread counted %v", other)
	}
	if used := after - before; used >= spin/2 {
		t.Fatalf("the blocked thread counted %v while another thread spun %v", used, other)
	}
	// And its own work counts: spin here until the clock moves by a millisecond.
	start, _ := threadCPU()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if now, _ := threadCPU(); now-start >= time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the thread's clock did not move while it spun for 10 s")
		}
	}
}

// The pacer tells each stretch of statement time, with its thread's CPU time in it, as it
// adds them up; a stop outside a stretch tells nothing.
func TestPacerTellsStatementTime(t *testing.T) {
	var cpu, toldWall, toldCPU time.Duration
	told := 0
	p := &pacer{max: time.Millisecond, since: time.Now(), clock: func() time.Duration { return cpu },
		statements: func(wall, c time.Duration) { toldWall += wall; toldCPU += c; told++ }}
	p.run()
	cpu += 3 * time.Millisecond
	p.stop()
	p.stop()
	p.run()
	cpu += 2 * time.Millisecond
	p.stop()
	if told != 2 || toldCPU != 5*time.Millisecond || toldWall <= 0 || p.cpu != toldCPU || p.wall != toldWall {
		t.Fatalf("told %d stretches, %v wall and %v CPU; the pacer added %v and %v", told, toldWall, toldCPU, p.wall, p.cpu)
	}
}
