package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/cputime"
)

// The open-loop schedule is even over time and rooms: exactly rate posts in every second,
// consecutive posts 1/rate apart, each room's posts rooms/rate apart (never faster than
// the room rate with the default room count), and count agrees with at.
func TestScheduleEven(t *testing.T) {
	for _, rate := range []float64{1, 40, 333, 2500} {
		rooms := defaultRooms(rate, 1)
		if float64(rooms) < rate {
			t.Fatalf("rate %g: %d rooms, fewer than the rate", rate, rooms)
		}
		s := schedule{rate: rate, rooms: rooms}
		total := s.count(3 * time.Second)
		if want := int64(3 * rate); total != want {
			t.Fatalf("rate %g: %d posts due in 3s, want %d", rate, total, want)
		}
		perSecond := map[int64]int64{}
		lastInRoom := map[int]time.Duration{}
		for k := range total {
			at := s.at(k)
			perSecond[int64(at/time.Second)]++
			if k > 0 {
				if gap := at - s.at(k-1); gap < time.Duration(float64(time.Second)/rate)-time.Nanosecond {
					t.Fatalf("rate %g: posts %d and %d only %s apart", rate, k-1, k, gap)
				}
			}
			r := s.room(k)
			if prev, ok := lastInRoom[r]; ok && at-prev < time.Second {
				t.Fatalf("rate %g: room %d posts %s apart", rate, r, at-prev)
			}
			lastInRoom[r] = at
			if s.count(at) != k || s.count(at+1) != k+1 {
				t.Fatalf("rate %g: count(at(%d)) = %d, count(at+1ns) = %d", rate, k, s.count(at), s.count(at+1))
			}
		}
		for sec, n := range perSecond {
			if n != int64(rate) {
				t.Fatalf("rate %g: %d posts due in second %d", rate, n, sec)
			}
		}
		if len(lastInRoom) != min(rooms, int(total)) {
			t.Fatalf("rate %g: %d rooms used of %d", rate, len(lastInRoom), rooms)
		}
	}
}

func timeline(backlogs ...int64) []Second {
	var tl []Second
	for i, b := range backlogs {
		// 100 accepted posts/s, one healthy endpoint: 100 deliveries/s needed.
		acc := int64(100 * (i + 1))
		tl = append(tl, Second{T: float64(i + 1), Phase: "run", Accepted: acc, Delivered: acc - b, Backlog: b})
	}
	return tl
}

func TestJudge(t *testing.T) {
	flat := timeline(20, 35, 10, 30, 15)
	v := judge(flat, flat[len(flat)-1], 0, 0.2, 1)
	if v.FellBehind || !strings.Contains(v.Text, "kept up") || v.PeakBacklog != 35 || v.NeededPerSec != 100 {
		t.Fatalf("flat backlog: %+v", v)
	}
	growing := timeline(50, 150, 250, 350, 450)
	v = judge(growing, growing[len(growing)-1], 0, 5, 1)
	if !v.FellBehind || !strings.Contains(v.Text, "FELL BEHIND") || v.BacklogGrowthPerSec != 100 || v.BacklogAtEndOfLoad != 450 {
		t.Fatalf("growing backlog: %+v", v)
	}
	// A flat backlog is still a failure when deliveries are missing after the drain.
	v = judge(flat, flat[len(flat)-1], 7, 30, 1)
	if !v.FellBehind || v.Undelivered != 7 || !strings.Contains(v.Text, "7 deliveries still missing") {
		t.Fatalf("undelivered: %+v", v)
	}
	// A backlog that ends a second's worth above where it began fell behind, though a peak
	// inside the run makes its least-squares slope negative: 87.5 deliveries/s made of the
	// 100 needed.
	peaked := timeline(100, 600, 600, 100, 150)
	v = judge(peaked, peaked[len(peaked)-1], 0, 5, 1)
	if !v.FellBehind || v.DeliveredPerSec != 87.5 || v.BacklogGrowthPerSec != 12.5 || !strings.Contains(v.Text, "FELL BEHIND") {
		t.Fatalf("peaked backlog: %+v", v)
	}
	// Deliveries that fell behind with the endpoints' slots busy nine tenths of the run were
	// held by the in-flight bounds, whatever the deliveries made against the bound at the
	// mean attempt (the engine's work before each request holds a slot too); with the slots
	// less busy, or kept up, the verdict says nothing of the bounds.
	slow := timeline(50, 100, 150, 200, 250) // 50 deliveries/s made of the 100 needed
	held := judge(slow, slow[len(slow)-1], 0, 5, 1)
	held.heldByInFlight(0.97, held.DeliveredPerSec/0.75, 16)
	if held.DeliveredPerSec != 50 || !held.InFlightHeld ||
		!strings.Contains(held.Text, "held by the endpoints' in-flight bound: 16 deliveries at once an endpoint, their slots busy 97 % of the run, allow about 67/s at the run's mean attempt") {
		t.Fatalf("slots full: %+v", held)
	}
	unknown := judge(slow, slow[len(slow)-1], 0, 5, 1)
	unknown.heldByInFlight(0.95, 0, 16)
	if !unknown.InFlightHeld || !strings.HasSuffix(unknown.Text, "their slots busy 95 % of the run (--max-in-flight sets it)") {
		t.Fatalf("slots full, no mean attempt: %+v", unknown)
	}
	free := judge(slow, slow[len(slow)-1], 0, 5, 1)
	free.heldByInFlight(0.85, free.DeliveredPerSec/0.95, 16)
	if free.InFlightHeld || strings.Contains(free.Text, "in-flight") {
		t.Fatalf("slots not full: %+v", free)
	}
	kept := judge(flat, flat[len(flat)-1], 0, 5, 1)
	kept.heldByInFlight(1, kept.DeliveredPerSec, 16)
	if kept.InFlightHeld || strings.Contains(kept.Text, "in-flight") {
		t.Fatalf("kept up: %+v", kept)
	}
	// Drain samples do not count as growth during the run.
	withDrain := append(timeline(10, 10, 10), Second{T: 4, Phase: "drain", Accepted: 300, Delivered: 300})
	if v := judge(withDrain, withDrain[2], 0, 1, 1); v.FellBehind {
		t.Fatalf("drain samples judged: %+v", v)
	}
}

// Fewer rooms than the rate needs at the room rate is refused before anything starts.
func TestRateNeedsRooms(t *testing.T) {
	_, err := Run(t.Context(), Config{Rate: 100, Rooms: 99, RoomRate: 1})
	if err == nil || !strings.Contains(err.Error(), "need at least 100") {
		t.Fatalf("err = %v", err)
	}
	c := Config{Rate: 100, RoomRate: 2}
	c.defaults()
	if c.Rooms != 63 || c.Concurrency != 64 {
		t.Fatalf("defaults: %d rooms, %d connections", c.Rooms, c.Concurrency)
	}
}

// The other processes' peak is the busiest second of the run (warm-up and drain seconds
// do not count), and a second's row shows what others used in it.
func TestOtherCoresPeak(t *testing.T) {
	// Machine ticks of two CPUs: 200 a second. The process uses 1.2 cores each second.
	sec := func(t float64, phase string, busy uint64) Second {
		return Second{T: t, Phase: phase, CPU: 1.2 * t, Machine: cputime.Machine{Busy: busy, Idle: uint64(200*t) - busy}}
	}
	tl := []Second{
		sec(1, "warm-up", 120),
		sec(2, "warm-up", 120+190), // others 0.7 in a warm-up second: not counted
		sec(3, "run", 310+130),     // 1.3 cores busy: others 0.1
		sec(4, "run", 440+175),     // 1.75: others 0.55
		sec(5, "run", 615+120),     // 1.2: others 0
		sec(5.2, "run", 735+30),    // a sliver of a second: not counted
		sec(6, "drain", 765+200),
	}
	if p := otherCoresPeak(tl, 2); p < 0.5499 || p > 0.5501 {
		t.Fatalf("peak %v, want 0.55", p)
	}
	if row := timelineRow(tl[2], tl[3], 2); !strings.Contains(row, " 1.20   0.55    0 %") {
		t.Fatalf("row %q does not show 1.20 cores of the process and 0.55 of others", row)
	}
	// The slowest second is found among the run's whole seconds, whichever latency peaked.
	tl[1].DeliveryMaxMS = 900 // warm-up: not counted
	tl[3].PostMaxMS, tl[3].DeliveryMaxMS = 120, 180
	tl[4].PostMaxMS, tl[4].DeliveryMaxMS = 150, 90
	tl[5].DeliveryMaxMS = 500 // a sliver of a second: not counted
	if i := worstSecond(tl); i != 3 {
		t.Fatalf("slowest second %d, want 3", i)
	}
	if i := worstSecond(tl[:2]); i != 0 {
		t.Fatalf("slowest second of a timeline with no run: %d", i)
	}
}

// A room's sends are reserved as its posts come due: a post due after the room's previous
// send plus the gap goes at once; an overdue post found the room's previous post only
// just sent (a generator catching up after a stall) waits until a gap after it, and so
// does the next, so no two of a room's posts go out within the gap.
func TestPacedRoom(t *testing.T) {
	t.Parallel()
	var s slot
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	gap := 1100 * time.Millisecond
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, c := range []struct {
		now, want time.Duration
		what      string
	}{
		{0, 0, "the room's first post, on time"},
		{1250 * time.Millisecond, 1250 * time.Millisecond, "the next, a schedule's spacing later"},
		// The generator stalls from 2.4 s to 4 s: the posts due at 2.5 s and 3.75 s are
		// both taken at 4 s.
		{4 * time.Second, 4 * time.Second, "the first post overdue after a stall"},
		{4 * time.Second, 5100 * time.Millisecond, "the second, overdue at the same moment"},
		{5 * time.Second, 6200 * time.Millisecond, "the post due at 5 s, still within the catch-up"},
		{7500 * time.Millisecond, 7500 * time.Millisecond, "back on schedule"},
	} {
		if got := s.paced(at(c.now), gap); !got.Equal(at(c.want)) {
			t.Fatalf("%s: sent at %v, want %v", c.what, got.Sub(t0), c.want)
		}
	}
}

// An isolation run whose phases fell behind says its ratio is not a measure of isolation,
// naming them; one whose phases all kept up prints the ratio alone.
func TestIsolationOverloaded(t *testing.T) {
	kept, behind := PhaseResult{Verdict: Verdict{Text: "kept up"}}, PhaseResult{Verdict: Verdict{FellBehind: true}}
	for _, c := range []struct {
		before, run, after PhaseResult
		want               string
	}{
		{kept, kept, kept, ""},
		{behind, kept, behind, "the healthy run before, the healthy run after"},
		{kept, behind, kept, "the run with failures"},
	} {
		r := Result{Healthy: &c.before, Run: c.run, HealthyAfter: &c.after, IsolationX: 0.21, PostIsolationX: 0.97}
		r.IsolationOverloaded = overloaded(r)
		var table strings.Builder
		WriteTable(&table, r)
		got := strings.Join(r.IsolationOverloaded, ", ")
		if got != c.want || !strings.Contains(table.String(), "= 0.21×") {
			t.Fatalf("overloaded %q, want %q; table:\n%s", got, c.want, table.String())
		}
		caveat := "NOT A MEASURE OF ISOLATION: deliveries fell behind in " + c.want + ":"
		if has := strings.Contains(table.String(), "NOT A MEASURE OF ISOLATION"); has != (c.want != "") || c.want != "" && !strings.Contains(table.String(), caveat) {
			t.Fatalf("phases behind %q; table:\n%s", c.want, table.String())
		}
	}
}
