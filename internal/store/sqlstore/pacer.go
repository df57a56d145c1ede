package sqlstore

import (
	"runtime"
	"time"
)

// pacer opens a group-commit window while commits cost the machine more than they buy.
//
// A writer that commits as soon as a request waits makes as many commits as it can. Each
// commit costs CPU of its own (the log write and its flush, the engine's commit work).
// While the machine has CPU to spare that buys the lowest latency at no cost. Once the
// cores are saturated, the writer — one goroutine — waits for a CPU behind the goroutines
// that serve requests and make deliveries, its batches take longer, everything queued
// behind it slows, and the work per result grows: the state feeds itself. The pacer opens
// the window on either of two signs, each over half-second periods:
//   - the writer waited for a CPU: the share of its statement time (each commit excluded,
//     its flush is the disk's) in which its thread was not running, above openAbove in two
//     periods in a row (one noisy period must not cost a closed-loop client its rate);
//   - it is busy (at least busyAbove of the period inside batches, commits included) and
//     some of what it writes is unwaited (chat.Unwaited: delivery outcomes, which nobody
//     waits on). Deliveries are where commits pile up (four endpoints: four outcomes a
//     post), and a window there delays no one who waits for the outcome.
//
// With a window the writer gathers for a short time after a batch's first request
// (doubling up to the maximum while a sign lasts), so the same requests cost fewer
// commits; once neither sign is seen (the wait below closeBelow, and no unwaited writes
// or the writer busy less than busyBelow) it halves the window down to none. A serial
// client (batches of one) never waits: the window applies only after a batch of more than
// one request. (On SQLite the writer's statements no longer yield their CPU inside the
// driver, see sqlite's nativeWriter, so the first sign now shows only a machine short of
// CPU for other reasons; the second is the one deliveries raise.)
//
// A pacer belongs to one writer goroutine; nothing else touches it. The writer is locked
// to its OS thread while it runs a batch (begin to batchDone), so that the thread's CPU
// clock is the writer's; between batches it is not, so waking it costs no thread
// hand-over.
type pacer struct {
	max    time.Duration
	window time.Duration // the current window; 0: commit as soon as the queue is drained
	last   int           // requests in the last batch
	short  bool          // the last period's wait was above openAbove
	// in the current period: wall time inside batches, and whether any request was unwaited
	busy     time.Duration
	unwaited bool
	batch0   time.Time // when the running batch began

	// The current sample: statement wall time and thread CPU time since since.
	since     time.Time
	wall, cpu time.Duration
	// Where the running interval started (run), for stop.
	w0    time.Time
	c0    time.Duration
	clock func() time.Duration // the calling thread's CPU time
	// fixed: the window stays at max whatever is measured (tests of the writer's gathering).
	fixed bool
	// observe, if set, is told each new window.
	observe func(time.Duration)
	// statements, if set, is told each stretch of statement time: its wall time and the
	// thread's CPU time in it.
	statements func(wall, cpu time.Duration)
}

const (
	pacePeriod  = 500 * time.Millisecond // how often the window is reconsidered
	paceMinWall = 50 * time.Millisecond  // statement time a sample needs to count
	paceFirst   = 500 * time.Microsecond // the window when it first opens
	openAbove   = 0.30                   // share of statement time spent waiting for a CPU
	closeBelow  = 0.20
	// share of the period the writer spends inside batches, with unwaited writes
	busyAbove = 0.80
	busyBelow = 0.50
)

// newPacer returns a pacer with windows up to max, or nil (no window) when max is not
// positive or this platform has no per-thread CPU clock.
func newPacer(max time.Duration, fixed bool, observe func(time.Duration), now time.Time) *pacer {
	if max <= 0 {
		return nil
	}
	if _, ok := threadCPU(); !ok {
		return nil
	}
	p := &pacer{max: max, since: now, fixed: fixed, observe: observe, clock: func() time.Duration { d, _ := threadCPU(); return d }}
	if fixed {
		p.window = max
	}
	return p
}

// begin starts a batch: the writer stays on this thread until batchDone.
func (p *pacer) begin() {
	if p != nil {
		runtime.LockOSThread()
		p.run()
		p.batch0 = p.w0
	}
}

// run marks the start of statement time; stop its end (a commit is not statement time).
func (p *pacer) run() {
	if p != nil {
		p.w0, p.c0 = time.Now(), p.clock()
	}
}

func (p *pacer) stop() {
	if p != nil && !p.w0.IsZero() {
		wall, cpu := time.Since(p.w0), p.clock()-p.c0
		p.wall += wall
		p.cpu += cpu
		p.w0 = time.Time{}
		if p.statements != nil {
			p.statements(wall, cpu)
		}
	}
}

// batchDone records a finished batch and reconsiders the window once a period.
func (p *pacer) batchDone(batch []*writeReq, now time.Time) {
	if p == nil {
		return
	}
	p.stop()
	runtime.UnlockOSThread()
	p.last = len(batch)
	p.busy += now.Sub(p.batch0)
	for _, r := range batch {
		p.unwaited = p.unwaited || r.unwaited
	}
	period := now.Sub(p.since)
	if period < pacePeriod {
		return
	}
	if !p.fixed {
		waited := -1.0 // too little statement time to judge
		if p.wall >= paceMinWall {
			waited = 1 - float64(p.cpu)/float64(p.wall)
		}
		busy := 0.0
		if p.unwaited {
			busy = float64(p.busy) / float64(period)
		}
		was := p.window
		p.adjust(waited, busy)
		if p.window != was && p.observe != nil {
			p.observe(p.window)
		}
	}
	p.since, p.wall, p.cpu, p.busy, p.unwaited = now, 0, 0, 0, false
}

// adjust moves the window by the share of statement time the writer waited for a CPU
// (negative: not judged) and the share of the period it spent inside batches, counted only
// when it wrote something unwaited in the period (0 otherwise).
func (p *pacer) adjust(waited, busy float64) {
	wasShort := p.short
	p.short = waited > openAbove
	switch {
	case p.short && wasShort, busy >= busyAbove:
		p.window = min(p.max, max(paceFirst, 2*p.window))
	case waited < closeBelow && busy < busyBelow: // a quiet writer (not judged) too
		if p.window /= 2; p.window < paceFirst {
			p.window = 0
		}
	}
}

// wait is how long the writer gathers after a batch's first request (0: not at all).
func (p *pacer) wait() time.Duration {
	if p == nil || p.last <= 1 {
		return 0
	}
	return p.window
}
