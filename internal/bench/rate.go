package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/chathooks/chathooks/internal/cputime"
)

// schedule is the open-loop load: post k is due at k/rate seconds after the start, in
// room k mod rooms. Consecutive posts are 1/rate apart whatever the rooms, so load is
// even over time (no room fires at the top of a second with the others), and a room's
// posts are rooms/rate apart.
type schedule struct {
	rate  float64 // posts/s over all rooms
	rooms int
}

// at is when post k is due, relative to the start.
func (s schedule) at(k int64) time.Duration {
	return time.Duration(math.Round(float64(k) * float64(time.Second) / s.rate))
}

// room is the room post k goes to.
func (s schedule) room(k int64) int { return int(k % int64(s.rooms)) }

// count is how many posts are due strictly before d.
func (s schedule) count(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(math.Ceil(d.Seconds()*s.rate - 1e-9))
	for n > 0 && s.at(n-1) >= d { // float rounding at the boundary
		n--
	}
	for s.at(n) < d {
		n++
	}
	return n
}

// defaultRooms is enough rooms for rate posts/s with each room a quarter under its rate
// limit, so arrival jitter of up to a quarter of the room interval never trips it.
func defaultRooms(rate, roomRate float64) int {
	return int(math.Ceil(1.25 * rate / roomRate))
}

// defaultConns is the open-loop generator's connection pool: enough that each connection
// carries at most 10 posts/s, so server latency up to 100 ms does not delay the schedule.
func defaultConns(rate float64) int {
	return max(64, int(math.Ceil(rate/10)))
}

// Second is one sample of the timeline, taken about once a second: counts since the
// start of the load.
type Second struct {
	T         float64 `json:"t_s"`   // seconds since the load started
	Phase     string  `json:"phase"` // warm-up | run | late (posts due in the run, sent after it) | drain
	Offered   int64   `json:"offered"`
	Accepted  int64   `json:"accepted"`
	Delivered int64   `json:"delivered"` // distinct deliveries at healthy receivers
	Backlog   int64   `json:"backlog"`   // accepted × healthy endpoints − delivered
	// The longest latency from due time of the measured posts answered, and of their
	// deliveries received, since the previous sample (0: none).
	PostMaxMS     float64 `json:"post_max_ms"`
	DeliveryMaxMS float64 `json:"delivery_max_ms"`
	// SlowWrites is how many write transactions took the servers' writers longer than
	// SlowWrite so far: whether a stall of the posts was a stall of the writer.
	SlowWrites int64 `json:"slow_writes"`
	// CPU is the process's CPU time so far (server, load and receivers), in seconds.
	CPU float64 `json:"cpu_s"`
	// Machine is the whole machine's CPU time so far, in clock ticks (Linux; zero
	// elsewhere): what else ran, and on a virtual machine what the hypervisor took.
	Machine cputime.Machine `json:"machine_cpu_ticks"`
}

// cores is the CPU this process and other processes used between two samples, in cores
// of the machine's cpus; ok is false where either was not read (the first sample, or no
// /proc/stat).
func cores(prev, s Second, cpus int) (self, others float64, ok bool) {
	if prev.CPU == 0 || prev.Machine.Busy == 0 || s.T <= prev.T {
		return 0, 0, false
	}
	self = (s.CPU - prev.CPU) / (s.T - prev.T)
	return self, s.Machine.Since(prev.Machine).Others(cpus, self), true
}

// runSecond reports whether sample i closes a second of the measured run: a sample of the
// run phase about a whole second after the one before (not the sliver at the window's end).
func runSecond(tl []Second, i int) bool {
	return i > 0 && tl[i].Phase == "run" && tl[i].T-tl[i-1].T >= 0.5
}

// otherCoresPeak is the most CPU other processes used in one second of the measured run
// (runSecond), in cores.
func otherCoresPeak(timeline []Second, cpus int) float64 {
	peak := 0.0
	for i := range timeline {
		if !runSecond(timeline, i) {
			continue
		}
		if _, others, ok := cores(timeline[i-1], timeline[i], cpus); ok {
			peak = max(peak, others)
		}
	}
	return peak
}

// Verdict says whether deliveries kept up with accepted posts.
type Verdict struct {
	FellBehind          bool    `json:"fell_behind"`
	NeededPerSec        float64 `json:"deliveries_needed_per_sec"`
	DeliveredPerSec     float64 `json:"deliveries_made_per_sec"`
	BacklogGrowthPerSec float64 `json:"backlog_growth_per_sec"`
	BacklogAtEndOfLoad  int64   `json:"backlog_at_end_of_load"`
	PeakBacklog         int64   `json:"peak_backlog"`
	Undelivered         int64   `json:"undelivered_after_drain"`
	DrainSeconds        float64 `json:"drain_seconds"`
	// InFlightHeld: deliveries fell behind with every endpoint's in-flight slots full
	// (heldByInFlight).
	InFlightHeld bool   `json:"held_by_in_flight_bound,omitempty"`
	Text         string `json:"text"`
}

// judge reads the timeline of the measured run (samples in phase "run" up to the end of
// the load). Deliveries fell behind when some are still missing after the drain, or when
// the backlog grew through the run by more than 2 % of the deliveries needed a second and
// ended above one second's worth of deliveries. Its growth is the larger of its
// least-squares slope and its growth from the run's first sample to its last (the
// deliveries needed a second less those made, the figures the verdict gives): a backlog
// that rises and falls back within the run grows by neither, and one whose slope a peak
// inside the run flattens still grows by the second.
func judge(tl []Second, endOfLoad Second, undelivered int64, drainSeconds float64, healthy int) Verdict {
	v := Verdict{BacklogAtEndOfLoad: endOfLoad.Backlog, Undelivered: undelivered, DrainSeconds: drainSeconds}
	var run []Second
	for _, s := range tl {
		v.PeakBacklog = max(v.PeakBacklog, s.Backlog)
		if s.Phase == "run" && s.T <= endOfLoad.T {
			run = append(run, s)
		}
	}
	if healthy == 0 {
		v.Text = "no healthy endpoints: nothing to deliver"
		return v
	}
	if len(run) >= 2 {
		a, b := run[0], run[len(run)-1]
		if dt := b.T - a.T; dt > 0 {
			v.NeededPerSec = float64(b.Accepted-a.Accepted) * float64(healthy) / dt
			v.DeliveredPerSec = float64(b.Delivered-a.Delivered) / dt
		}
		var mt, mb float64
		for _, s := range run {
			mt += s.T
			mb += float64(s.Backlog)
		}
		mt /= float64(len(run))
		mb /= float64(len(run))
		var num, den float64
		for _, s := range run {
			num += (s.T - mt) * (float64(s.Backlog) - mb)
			den += (s.T - mt) * (s.T - mt)
		}
		if den > 0 {
			v.BacklogGrowthPerSec = num / den
		}
		v.BacklogGrowthPerSec = max(v.BacklogGrowthPerSec, v.NeededPerSec-v.DeliveredPerSec)
	}
	growing := v.BacklogGrowthPerSec > 0.02*v.NeededPerSec && float64(endOfLoad.Backlog) > v.NeededPerSec
	v.FellBehind = undelivered > 0 || growing
	switch {
	case undelivered > 0:
		v.Text = fmt.Sprintf("deliveries FELL BEHIND accepted posts: %d deliveries still missing %.0f s after the load ended (backlog %d at the end of the load, growing %.0f/s)",
			undelivered, drainSeconds, endOfLoad.Backlog, v.BacklogGrowthPerSec)
	case growing:
		v.Text = fmt.Sprintf("deliveries FELL BEHIND accepted posts: the backlog grew %.0f/s (%.0f %% of the %.0f deliveries/s needed; %.0f/s made) to %d at the end of the load; drained %.1f s later",
			v.BacklogGrowthPerSec, 100*v.BacklogGrowthPerSec/v.NeededPerSec, v.NeededPerSec, v.DeliveredPerSec, endOfLoad.Backlog, drainSeconds)
	default:
		v.Text = fmt.Sprintf("deliveries kept up with accepted posts: %.0f deliveries/s needed, %.0f/s made; backlog peaked at %d, %d at the end of the load, drained %.1f s later",
			v.NeededPerSec, v.DeliveredPerSec, v.PeakBacklog, endOfLoad.Backlog, drainSeconds)
	}
	return v
}

// heldByInFlight adds to a verdict of deliveries falling behind that they were held by the
// endpoints' in-flight bounds, when attempts held the endpoints' slots nine tenths of the
// run or more (busy, a share; 0: not known): the deliveries then waited for a slot. bound is
// what the slots allow at the run's mean attempt (deliveries a second; 0: not known), given
// beside it.
func (v *Verdict) heldByInFlight(busy, bound float64, maxInFlight int) {
	if !v.FellBehind || busy < 0.9 {
		return
	}
	v.InFlightHeld = true
	v.Text += fmt.Sprintf("; held by the endpoints' in-flight bound: %d deliveries at once an endpoint, their slots busy %.0f %% of the run", maxInFlight, busy*100)
	if bound > 0 {
		v.Text += fmt.Sprintf(", allow about %.0f/s at the run's mean attempt", bound)
	}
	v.Text += " (--max-in-flight sets it)"
}
