package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/bench"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// A short run of the real benchmark: rooms, webhooks, endpoints, receivers (one black
// hole), the all-healthy comparison runs before and after it, and the report.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	var progress, table bytes.Buffer
	// The measured window opens once, in the main run (between the comparison runs), and
	// closes before the drain.
	var opened, closed int
	var atOpen, atClose string
	dir := t.TempDir()
	countsWrites := writesCounted(t, dir)
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: 1500 * time.Millisecond, Rooms: 60, RoomRate: 1, Concurrency: 8,
		Endpoints: 2, FailureShare: 0.5, FailureMode: "blackhole", Drain: 20 * time.Second, Progress: &progress,
		Measure: func() func() {
			opened++
			atOpen = progress.String()
			return func() { closed++; atClose = progress.String() }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opened != 1 || closed != 1 {
		t.Fatalf("measured window opened %d and closed %d times", opened, closed)
	}
	main, inWindow := "", atClose[len(atOpen):]
	if i := strings.LastIndex(atOpen, "run...\n"); i >= 0 {
		main = atOpen[i:]
	}
	if main == "" || strings.Contains(main, "\nrun ") || !strings.Contains(atOpen, "comparison run before") ||
		strings.Contains(atClose, "comparison run after") || !strings.Contains("\n"+inWindow, "\nrun ") || strings.Contains(inWindow, "drain") {
		t.Fatalf("measured window not around the main run's load:\nat open:\n%s\nat close:\n%s", atOpen, atClose)
	}
	if res.Healthy == nil || res.HealthyAfter == nil {
		t.Fatalf("comparison runs: before %v, after %v", res.Healthy, res.HealthyAfter)
	}
	for _, p := range []bench.PhaseResult{*res.Healthy, res.Run, *res.HealthyAfter} {
		if p.Accepted == 0 || p.PostLatency.Count == 0 {
			t.Fatalf("no accepted posts: %+v", p)
		}
		if p.Delivered != p.ExpectedDeliveries || p.ExpectedDeliveries == 0 {
			t.Fatalf("delivered %d of %d", p.Delivered, p.ExpectedDeliveries)
		}
		// 429s can happen when arrival jitter lands two paced posts within a second: the
		// bench reports them; anything else is a failure.
		for status := range p.Errors {
			if status != "429" {
				t.Fatalf("errors: %v", p.Errors)
			}
		}
	}
	// The server's default bound, and none computed: the black hole's attempts (timeouts)
	// are in the same mean.
	if res.Run.MaxInFlight != chat.DefaultMaxInFlight || res.Run.DeliveryAttemptMS <= 0 || res.Run.InFlightBoundPerSec != 0 {
		t.Fatalf("max in flight %d, mean attempt %v ms, bound %v/s", res.Run.MaxInFlight, res.Run.DeliveryAttemptMS, res.Run.InFlightBoundPerSec)
	}
	if tl := res.Run.Timeline; len(tl) == 0 || tl[len(tl)-1].Backlog != 0 || tl[len(tl)-1].Phase != "drain" {
		t.Fatalf("timeline does not end drained: %+v", tl)
	}
	if res.Healthy.ExpectedDeliveries/res.Healthy.Accepted < 2 || res.HealthyAfter.ExpectedDeliveries/res.HealthyAfter.Accepted < 2 {
		t.Fatalf("comparison runs did not deliver to both endpoints: %+v %+v", res.Healthy, res.HealthyAfter)
	}
	mean := (res.Healthy.DeliveryLatency.P99 + res.HealthyAfter.DeliveryLatency.P99) / 2
	if want := res.Run.DeliveryLatency.P99 / mean; res.IsolationX != want {
		t.Fatalf("isolation ratio %v, want the run's p99 over the comparison runs' mean, %v", res.IsolationX, want)
	}
	postMean := (res.Healthy.PostLatency.P99 + res.HealthyAfter.PostLatency.P99) / 2
	if want := res.Run.PostLatency.P99 / postMean; res.PostIsolationX != want || want <= 0 {
		t.Fatalf("posts' isolation ratio %v, want the run's post p99 over the comparison runs' mean, %v", res.PostIsolationX, want)
	}
	// SQLite's log and checkpoints write to the data directory's disk in the window.
	if countsWrites && (res.Run.DiskWriteMBps <= 0 || res.Run.DiskWriteKBPerPost <= 0) {
		t.Fatalf("disk writes %v MB/s, %v KB a post, on a file system whose writes are counted", res.Run.DiskWriteMBps, res.Run.DiskWriteKBPerPost)
	}
	bench.WriteTable(&table, res)
	wants := []string{"accepted posts", "post→receiver latency", "healthy, before the run", "healthy, after the run",
		fmt.Sprintf("isolation: healthy endpoints' p99 with failures / without (mean of the runs before and after) = %.2f×", res.IsolationX),
		fmt.Sprintf("the same for the posts' own p99 (included in a delivery's) = %.2f×", res.PostIsolationX)}
	if countsWrites {
		wants = append(wants, "disk writes (this process)")
	}
	for _, want := range wants {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// With Mention, every post ends with @Present and the server resolves it: each message's
// event carries the text and the mention (the bench's rooms have no members, so the
// mention names none).
func TestBenchMention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var progress bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: 500 * time.Millisecond, Warmup: -1, Rooms: 20, RoomRate: 1, Concurrency: 4,
		Mention: true, Drain: 10 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Accepted == 0 || len(res.Run.Errors) != 0 || !strings.Contains(res.Description, "each post mentions @Present") {
		t.Fatalf("accepted %d, errors %v, load %q", res.Run.Accepted, res.Run.Errors, res.Description)
	}
	posts := messagePayloads(t, dir)
	for _, p := range posts {
		if !strings.HasSuffix(p.Message.Text, " @Present") || fmt.Sprint(p.Message.Mentions) != fmt.Sprint([]chat.Mention{{Type: "present"}}) {
			t.Fatalf("text %q, mentions %+v", p.Message.Text, p.Message.Mentions)
		}
	}
	if len(posts) == 0 {
		t.Fatal("no message events stored")
	}
}

// With MaxInFlight, the run's endpoints are made with that max_in_flight, and the report
// gives the mean delivery attempt and the deliveries a second the endpoints' bounds allow
// at it.
func TestBenchMaxInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var progress, table bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: 500 * time.Millisecond, Warmup: -1, Rooms: 20, RoomRate: 1, Concurrency: 4,
		Endpoints: 2, MaxInFlight: 3, Drain: 10 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Run
	if p.Accepted == 0 || p.Delivered != p.ExpectedDeliveries || !strings.Contains(res.Description, "each sent up to 3 deliveries at once") {
		t.Fatalf("accepted %d, delivered %d of %d, load %q", p.Accepted, p.Delivered, p.ExpectedDeliveries, res.Description)
	}
	if p.MaxInFlight != 3 || p.DeliveryAttemptMS <= 0 || p.InFlightBoundPerSec != 2*3/(p.DeliveryAttemptMS/1000) {
		t.Fatalf("max in flight %d, mean attempt %v ms, bound %v/s", p.MaxInFlight, p.DeliveryAttemptMS, p.InFlightBoundPerSec)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "0"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eps, err := st.ListEndpoints(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 {
		t.Fatalf("%d endpoints stored, want 2", len(eps))
	}
	for _, e := range eps {
		if e.MaxInFlight != 3 {
			t.Fatalf("endpoint %s stored with max_in_flight %d, want 3", e.ID, e.MaxInFlight)
		}
	}
	bench.WriteTable(&table, res)
	// The slots' time: 6 slots over the window, busy some of it, never more than all of it.
	if p.SlotsBusy <= 0 || p.SlotsBusy > 1.01 {
		t.Fatalf("slots busy %v of the window", p.SlotsBusy)
	}
	if want := fmt.Sprintf("3 at once an endpoint allow about %.0f/s; slots busy %.0f %%", p.InFlightBoundPerSec, p.SlotsBusy*100); !strings.Contains(table.String(), want) {
		t.Fatalf("table lacks %q:\n%s", want, table.String())
	}
}

// Deliveries held by their endpoint's in-flight bound are reported as such: one endpoint
// taking one delivery at a time, each answered after 25 ms, against posts at up to 2,000 a
// second, keeps its one slot busy, falls behind, and the verdict says the bound held it.
// (Judged by the slot's busy time, not by the deliveries made against the bound at the
// mean attempt: the engine's own work between attempts holds the slot too, which on a
// starved machine, the race detector on and every package's tests running, was a fifth of
// each cycle, and the deliveries then made only 80 % of that bound.)
func TestBenchHeldByInFlight(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: t.TempDir(), Duration: 3 * time.Second, Warmup: -1, Rooms: 20, RoomRate: 100, NoRoomLimit: true, Concurrency: 8,
		Endpoints: 1, MaxInFlight: 1, ReceiverLatency: 25 * time.Millisecond, Drain: 200 * time.Millisecond, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, p := res.Run.Verdict, res.Run
	if !v.FellBehind || !v.InFlightHeld || p.InFlightBoundPerSec <= 0 || p.SlotsBusy < 0.9 || p.SlotsBusy > 1.01 ||
		!strings.Contains(v.Text, "held by the endpoints' in-flight bound: 1 deliveries at once an endpoint, their slots busy") {
		t.Fatalf("verdict %+v; mean attempt %.2f ms, bound %.1f/s, slots busy %.3f", v, p.DeliveryAttemptMS, p.InFlightBoundPerSec, p.SlotsBusy)
	}
}

// messagePayloads reads back the message events a run in dir stored (its first node).
func messagePayloads(t *testing.T, dir string) []chat.MessagePayload {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "0"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, _, err := st.Events(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var posts []chat.MessagePayload
	for _, e := range evs {
		if e.Type != chat.EventMessageSend {
			continue
		}
		var p chat.MessagePayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	return posts
}

// With ThreadKeys, posts go to Google Chat webhooks threaded by key: each room's posts
// start at most that many threads, and the rest reply in them. The servers run without
// the room limiter: at a burst of one it refuses a post that arrives less than a room
// period after the room's last, and the load spaces a room's posts 1.1 periods apart when
// it sends them, which a machine busy with every package's tests delayed unevenly enough
// to bring two within a period (two 429s in one run). The threads are what is tested here.
func TestBenchThreadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var progress bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: 2500 * time.Millisecond, Warmup: -1, Rooms: 2, RoomRate: 2, Concurrency: 2, NoRoomLimit: true,
		ThreadKeys: 2, Endpoints: 0, Drain: 10 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Accepted == 0 || len(res.Run.Errors) != 0 || !strings.Contains(res.Description, "Google Chat webhook (threaded by 2 keys a room)") {
		t.Fatalf("accepted %d, errors %v, load %q", res.Run.Accepted, res.Run.Errors, res.Description)
	}
	roots := map[string]map[string]bool{} // by room, the threads started
	replies := 0
	for _, p := range messagePayloads(t, dir) {
		m := p.Message
		if roots[m.RoomID] == nil {
			roots[m.RoomID] = map[string]bool{}
		}
		if m.ThreadID == m.ID {
			roots[m.RoomID][m.ID] = true
			continue
		}
		if !roots[m.RoomID][m.ThreadID] || p.ThreadRoot == nil || p.ThreadRoot.ID != m.ThreadID {
			t.Fatalf("message %s replies in %q, not a thread started before it in room %s (root %+v)", m.ID, m.ThreadID, m.RoomID, p.ThreadRoot)
		}
		replies++
	}
	for room, r := range roots {
		if len(r) > 2 {
			t.Fatalf("room %s has %d threads, want at most 2", room, len(r))
		}
	}
	if replies == 0 {
		t.Fatalf("no replies among %d posts", res.Run.Accepted)
	}
}

// With Idempotent, each post carries an Idempotency-Key header of its own: every message
// is recorded under its post's key, and no two posts share one.
func TestBenchIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: time.Second, Warmup: -1, Rooms: 2, RoomRate: 5, Concurrency: 2, NoRoomLimit: true,
		Idempotent: true, Endpoints: 0, Drain: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Accepted == 0 || len(res.Run.Errors) != 0 || !strings.Contains(res.Description, "an idempotency key each") {
		t.Fatalf("accepted %d, errors %v, load %q", res.Run.Accepted, res.Run.Errors, res.Description)
	}
	posts := messagePayloads(t, dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "0"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(context.Background(), func(tx chat.Tx) error {
		for _, p := range posts {
			m := p.Message
			n, _, ok := strings.Cut(strings.TrimPrefix(m.Text, "chbench:"), ";")
			if !ok {
				return fmt.Errorf("message %s: text %q names no post", m.ID, m.Text)
			}
			id, err := tx.IdempotentMessage("webhook:"+m.Sender.ID, "key:chbench-"+n)
			if err != nil {
				return err
			}
			if id != m.ID {
				return fmt.Errorf("post %s's key names message %q, want %s", n, id, m.ID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Posts are of one kind: the REST API's and Google Chat's cannot be asked for together,
// nor a negative number of thread keys.
func TestBenchPostKindsConflict(t *testing.T) {
	t.Parallel()
	for _, c := range []bench.Config{{API: true, ThreadKeys: 2}, {ThreadKeys: -1}} {
		if _, err := bench.Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "--thread-keys") {
			t.Fatalf("%+v: %v, want an error naming --thread-keys", c, err)
		}
	}
}

// With API, posts go through the REST API as the one user every room has as a member: each
// stored message is that user's, every answer was a 201 (any other status is an error), and
// the deliveries of those posts reach the receiver.
func TestBenchAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var progress bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: 500 * time.Millisecond, Warmup: -1, Rooms: 20, RoomRate: 1, Concurrency: 4,
		API: true, Endpoints: 1, Drain: 10 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Accepted == 0 || len(res.Run.Errors) != 0 || !strings.Contains(res.Description, "REST API") {
		t.Fatalf("accepted %d, errors %v, load %q", res.Run.Accepted, res.Run.Errors, res.Description)
	}
	if res.Run.ExpectedDeliveries == 0 || res.Run.Delivered != res.Run.ExpectedDeliveries || res.Run.Duplicates != 0 {
		t.Fatalf("delivered %d of %d (%d duplicates)", res.Run.Delivered, res.Run.ExpectedDeliveries, res.Run.Duplicates)
	}
	posts := messagePayloads(t, dir)
	if int64(len(posts)) < res.Run.Accepted {
		t.Fatalf("%d message events stored, %d posts accepted", len(posts), res.Run.Accepted)
	}
	for _, p := range posts {
		s := p.Message.Sender
		if s.Type != chat.SenderUser || !strings.HasSuffix(s.ID, "-sender") || s.Name != "Bench sender" || !strings.HasPrefix(p.Message.Text, "chbench:") {
			t.Fatalf("sender %+v, text %q", s, p.Message.Text)
		}
	}
}

// A short open-loop run: every post due is sent exactly once and counted (accepted or an
// error), every accepted post reaches both receivers, latencies count from the due time
// (never below the generator's own lag), the timeline ends with an empty backlog, and the
// report says whether deliveries kept up.
func TestBenchRateSmoke(t *testing.T) {
	t.Parallel()
	var progress, table bytes.Buffer
	const rate, dur = 40, 1500 * time.Millisecond
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: t.TempDir(), Rate: rate, Duration: dur, Endpoints: 2, Drain: 20 * time.Second, Progress: &progress,
		Baseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Run
	if res.Config.Rooms < rate || res.Config.Concurrency <= 0 {
		t.Fatalf("defaults: %d rooms, %d connections", res.Config.Rooms, res.Config.Concurrency)
	}
	if p.Offered != 60 {
		t.Fatalf("offered %d posts, want 60 (40/s for 1.5s)", p.Offered)
	}
	errs := int64(0)
	for status, n := range p.Errors {
		if status != "429" { // arrival jitter can put two posts to a room within its second
			t.Fatalf("errors: %v", p.Errors)
		}
		errs += int64(n)
	}
	if p.Accepted+errs != p.Offered || p.Accepted == 0 || int64(p.PostLatency.Count) != p.Accepted {
		t.Fatalf("accepted %d + errors %d != offered %d (latencies %d)", p.Accepted, errs, p.Offered, p.PostLatency.Count)
	}
	if p.ExpectedDeliveries != 2*p.Accepted || p.Delivered != p.ExpectedDeliveries || int64(p.DeliveryLatency.Count) != p.Delivered || p.Duplicates != 0 {
		t.Fatalf("delivered %d of %d (latencies %d, duplicates %d)", p.Delivered, p.ExpectedDeliveries, p.DeliveryLatency.Count, p.Duplicates)
	}
	// The server's own time on a post, from its metrics, is part of what the client saw.
	if p.ServerPostMS <= 0 || p.ServerPostMS > p.PostLatency.Max {
		t.Fatalf("server time on a post %.3f ms, post latency %+v", p.ServerPostMS, p.PostLatency)
	}
	if p.SendLag == nil || p.SendLag.Count != int(p.Offered) || p.PostLatency.Max < p.SendLag.Max {
		t.Fatalf("send lag %+v, post latency %+v", p.SendLag, p.PostLatency)
	}
	tl := p.Timeline
	if len(tl) == 0 {
		t.Fatal("no timeline")
	}
	end := tl[len(tl)-1]
	if end.Phase != "drain" || end.Backlog != 0 || end.Offered != p.Offered || end.Accepted != p.Accepted || end.Delivered != p.Delivered {
		t.Fatalf("timeline end %+v, result %+v", end, p)
	}
	for i := 1; i < len(tl); i++ {
		if tl[i].T < tl[i-1].T || tl[i].Offered < tl[i-1].Offered || tl[i].Accepted < tl[i-1].Accepted || tl[i].Delivered < tl[i-1].Delivered {
			t.Fatalf("timeline goes backwards at %d: %+v", i, tl)
		}
	}
	if p.Verdict.Undelivered != 0 || p.Verdict.Text == "" {
		t.Fatalf("verdict %+v", p.Verdict)
	}
	// The bare handler's run and the post's CPU: the process's CPU is measured (more than
	// none, at most the machine's cores) and the report prints each per request and per post.
	b := res.Baseline
	if b == nil || b.RequestsPerSec <= 0 || b.Latency.Count == 0 {
		t.Fatalf("baseline %+v", b)
	}
	cpus := float64(runtime.NumCPU()) * 1.05 // rusage is counted in clock ticks
	if b.CPUCores <= 0 || b.CPUCores > cpus || p.CPUCores <= 0 || p.CPUCores > cpus {
		t.Fatalf("CPU of the bare handler %v cores, of the run %v cores, on %d CPUs", b.CPUCores, p.CPUCores, runtime.NumCPU())
	}
	bench.WriteTable(&table, res)
	wants := []string{"offered posts (open loop)", "post→receiver latency from due time", "generator lag", "backlog", "in the server's handler", p.Verdict.Text,
		"share of bare net/http", fmt.Sprintf("(%.0f µs a request)", b.CPUPerRequestUS()), fmt.Sprintf("(%.0f µs a post, with its deliveries)", p.CPUPerPostUS())}
	if p.MachineBusy > 0 { // Linux: the machine's CPU time is read, and with it what others used
		wants = append(wants, "others", "of it other processes")
		// Others is the machine's busy cores less this process's, over the same window.
		if want := max(0, p.MachineBusy*float64(res.Machine.CPUs)-p.CPUCores); math.Abs(p.OtherCores-want) > 1e-9 {
			t.Fatalf("other processes' cores %v, want the machine's busy cores less the process's, %v", p.OtherCores, want)
		}
	}
	if bench.WorstSecond(p.Timeline) > 0 { // the run has a second to name
		wants = append(wants, "slowest second of the run")
	}
	for _, want := range wants {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Log(table.String())
}

// writesCounted reports whether this process's writes to dir's file system show in its
// storage write count (Linux, a disk rather than memory): a synced 1 MiB file must.
func writesCounted(t *testing.T, dir string) bool {
	t.Helper()
	w0, ok := bench.DiskWrites()
	if !ok {
		return false
	}
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	w1, ok := bench.DiskWrites()
	return ok && w1-w0 >= 1<<20
}

// The rows baseline: the bare handler's load with each request's message and event
// written through a server's store before the answer. Every answered request's rows are
// in the database afterwards, each message with its event, every room has rows (with more
// clients than rooms, too), and the report sets the posts beside the rows' rate.
func TestBenchRowsBaseline(t *testing.T) {
	t.Parallel()
	var progress, table bytes.Buffer
	dir := t.TempDir()
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: dir, Duration: time.Second, Warmup: 200 * time.Millisecond, Rooms: 6, Concurrency: 8,
		NoRoomLimit: true, Drain: 10 * time.Second, Progress: &progress, RowsBaseline: true, Baseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows
	if r == nil || r.RequestsPerSec <= 0 || r.Latency.Count == 0 || r.Seconds <= 0 || r.CPUCores <= 0 {
		t.Fatalf("rows baseline %+v", r)
	}
	if int64(r.Latency.Count) > r.Rows || r.CommitsPerSec <= 0 || r.RequestsPerCommit < 1 || r.WriterBusy <= 0 {
		t.Fatalf("rows %d for %d measured requests; commits %.0f/s of %.1f, writer busy %.2f", r.Rows, r.Latency.Count, r.CommitsPerSec, r.RequestsPerCommit, r.WriterBusy)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "rows"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	rooms, err := st.ListRooms(ctx, "", 1000)
	if err != nil || len(rooms) != 6 {
		t.Fatalf("rooms %d, %v", len(rooms), err)
	}
	msgs := map[string]bool{}
	for _, room := range rooms {
		ms, err := st.ListMessages(ctx, chat.MessageQuery{RoomID: room.ID, Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 { // the clients cycle through every room, as the posts' do
			t.Fatalf("no rows in room %s", room.ID)
		}
		for _, m := range ms {
			if m.Text != "chbench:1; disk usage 91% on host-42:/var, see runbook" || m.Sender.Type != chat.SenderWebhook || m.ThreadID != m.ID {
				t.Fatalf("stored message %+v", m)
			}
			msgs[m.ID] = true
		}
	}
	if int64(len(msgs)) != r.Rows {
		t.Fatalf("%d messages stored for %d answered requests", len(msgs), r.Rows)
	}
	events := 0
	for after := int64(0); ; {
		evs, last, err := st.Events(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Type != chat.EventMessageSend {
				continue // the rooms' and webhooks' creation
			}
			var p chat.MessagePayload
			if json.Unmarshal(e.Payload, &p) != nil || p.Message.Text == "" || e.RoomSeq < 2 {
				t.Fatalf("event %+v", e)
			}
			events++
		}
		after = last
	}
	if int64(events) != r.Rows {
		t.Fatalf("%d message events for %d messages", events, r.Rows)
	}

	// On Linux the writer measures its statement time and its thread's CPU in it, in both
	// runs, and the table says what share of it the writer waited for a CPU.
	var waits []string
	if runtime.GOOS == "linux" {
		for _, w := range []struct{ secs, wait float64 }{{r.WriterStatementSecs, r.WriterCPUWait}, {res.Run.WriterStatementSecs, res.Run.WriterCPUWait}} {
			if w.secs <= 0 || w.secs > 1.05 || w.wait < 0 || w.wait >= 1 {
				t.Fatalf("writer in statements %.3f s/s, waiting for a CPU %.3f of it", w.secs, w.wait)
			}
			waits = append(waits, fmt.Sprintf("%-37s %11.1f %% of its statement time (%.2f s/s in statements)", "  writer waited for a CPU", 100*w.wait, w.secs))
		}
	}
	// The table gives the rows' share of the bare handler, and the posts' of both.
	bench.WriteTable(&table, res)
	for _, want := range append(waits, "the same, writing a post's rows (store)", fmt.Sprintf("(%.0f µs a request)", r.CPUPerRequestUS()),
		fmt.Sprintf("%-37s %11.1f %%", "  share of bare net/http", 100*r.RequestsPerSec/res.Baseline.RequestsPerSec),
		fmt.Sprintf("%-37s %11.1f %%", "  share of the rows alone", 100*res.Run.PostsPerSec/r.RequestsPerSec)) {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// On PostgreSQL the rows baseline writes in a schema of its own and drops it: the posts'
// run finds none of its rooms or rows in the database it is given.
func TestBenchRowsBaselinePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	res, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL: url, Duration: time.Second, Warmup: 200 * time.Millisecond, Rooms: 30, Concurrency: 8,
		NoRoomLimit: true, Drain: 10 * time.Second, RowsBaseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Rows; r == nil || r.Rows == 0 || r.CommitsPerSec <= 0 || res.Run.Accepted == 0 {
		t.Fatalf("rows baseline %+v, posts %d", r, res.Run.Accepted)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left, rooms, posts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'chathooks\_bench\_%'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM rooms), (SELECT count(*) FROM messages)`).Scan(&rooms, &posts); err != nil {
		t.Fatal(err)
	}
	if left != 0 || rooms != 30 || int64(posts) < res.Run.Accepted {
		t.Fatalf("after the run: %d scratch schemas left, %d rooms in the posts' schema (the posts' run made 30), %d messages for %d accepted posts", left, rooms, posts, res.Run.Accepted)
	}
}

// Two nodes on PostgreSQL take the batch lock in turn: their batches are begun with the
// lock first, and the report gives how many a second and how long each took to begin.
func TestBenchTwoNodesPostgres(t *testing.T) {
	t.Parallel()
	var table bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL: pgtest.URL(t), Nodes: 2, Duration: time.Second, Warmup: 200 * time.Millisecond, Rooms: 30, Concurrency: 8,
		NoRoomLimit: true, Endpoints: 0, Drain: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Run
	if p.Accepted == 0 || len(p.Errors) != 0 {
		t.Fatalf("accepted %d, errors %v", p.Accepted, p.Errors)
	}
	if p.LockBegunPerSec <= 0 || p.LockWaitMS <= 0 || math.Abs(p.LockWaitSecs-p.LockBegunPerSec*p.LockWaitMS/1000) > 1e-9 {
		t.Fatalf("batches begun with the lock %v/s, %v ms each, %v s/s", p.LockBegunPerSec, p.LockWaitMS, p.LockWaitSecs)
	}
	bench.WriteTable(&table, res)
	if want := fmt.Sprintf("(begun with the batch lock first; %.2f ms each to begin", p.LockWaitMS); !strings.Contains(table.String(), want) {
		t.Fatalf("table lacks %q:\n%s", want, table.String())
	}
}
