// Package bench is `chathooks bench`: it starts a server on loopback, creates rooms with
// incoming webhooks and endpoints backed by local receivers, drives Chime-dialect posts
// over keep-alive HTTP spread across rooms (never above the per-room rate), and measures
// accepted posts/s, post latency, deliveries/s, post-to-receiver latency and the delivery
// backlog over time.
//
// Two load shapes: bursty (the default: every client posts to its rooms as fast as the
// room rate allows, so rooms fire together) and open-loop (Config.Rate: posts are due at
// an even rate, round-robin over the rooms, and every latency is measured from the time
// a post was due, not from when the generator managed to send it, so a server that stalls
// cannot hide its own queueing).
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/cputime"
	"github.com/chathooks/chathooks/internal/egress"
)

// Config is the load shape.
type Config struct {
	DatabaseURL string        `json:"database_url,omitempty"`
	DataDir     string        `json:"-"`
	Duration    time.Duration `json:"duration"`
	Warmup      time.Duration `json:"warmup"`
	Rooms       int           `json:"rooms"`
	Concurrency int           `json:"concurrency"`
	Endpoints   int           `json:"endpoints"`
	// MaxInFlight is each endpoint's max_in_flight, the deliveries sent to it at once (0:
	// the server's default).
	MaxInFlight     int           `json:"max_in_flight,omitempty"`
	ReceiverLatency time.Duration `json:"receiver_latency"`
	FailureShare    float64       `json:"failure_share"`
	FailureMode     string        `json:"failure_mode"` // blackhole | 500
	RoomRate        float64       `json:"room_rate"`
	NoRoomLimit     bool          `json:"no_room_limit,omitempty"` // the server enforces no per-room limit
	Mention         bool          `json:"mention,omitempty"`       // each post ends with @Present
	// API: posts go through the REST API (POST /api/v1/rooms/{id}/messages) as a user who
	// is a member of every room, instead of to Chime webhooks.
	API bool `json:"api,omitempty"`
	// ThreadKeys > 0: posts go to Google Chat webhooks instead, each in the thread of one of
	// this many keys a room (thread.threadKey with REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD, as
	// alerting tools group an alert's updates): a key's first post starts its thread, the
	// rest reply in it.
	ThreadKeys int `json:"thread_keys,omitempty"`
	// Idempotent: each post carries an Idempotency-Key header of its own, as a client that
	// retries safely sends (the server records every key with its message).
	Idempotent bool `json:"idempotent,omitempty"`
	Nodes      int  `json:"nodes"` // servers sharing the PostgreSQL database
	Baseline   bool `json:"baseline"`
	// RowsBaseline: also measure the bare handler writing each request's post rows through
	// a server's store (rowsBaseline).
	RowsBaseline bool          `json:"rows_baseline,omitempty"`
	Drain        time.Duration `json:"drain"`
	// Rate > 0 selects open-loop load: Rate posts/s offered evenly over time and rooms.
	Rate     float64   `json:"rate,omitempty"`
	Progress io.Writer `json:"-"`
	// Measure, if set, is called when the main run's measured window opens and the
	// function it returns when the window closes (profiles of the load alone, without
	// set-up, warm-up, drain or the comparison run).
	Measure func() (stop func()) `json:"-"`
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.RoomRate <= 0 {
		c.RoomRate = 1
	}
	if c.Rooms <= 0 {
		c.Rooms = 25000
		if c.Rate > 0 {
			c.Rooms = defaultRooms(c.Rate, c.RoomRate)
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
		if c.Rate > 0 {
			c.Concurrency = defaultConns(c.Rate)
		}
	}
	if c.Endpoints < 0 {
		c.Endpoints = 0
	}
	if c.MaxInFlight < 0 {
		c.MaxInFlight = 0
	}
	if c.FailureMode == "" {
		c.FailureMode = "blackhole"
	}
	if c.Drain <= 0 {
		c.Drain = 30 * time.Second
	}
	if c.Nodes <= 0 || c.DatabaseURL == "" {
		c.Nodes = 1
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// postKind names what the load posts, for the description.
func (c Config) postKind() string {
	kind := "Chime webhook"
	switch {
	case c.API:
		kind = "REST API (a member user's)"
	case c.ThreadKeys > 0:
		kind = fmt.Sprintf("Google Chat webhook (threaded by %d keys a room)", c.ThreadKeys)
	}
	if c.Idempotent {
		kind += ", an idempotency key each"
	}
	return kind
}

// Result is what one run measured.
type Result struct {
	Date     time.Time       `json:"date"`
	Machine  Machine         `json:"machine"`
	Config   Config          `json:"config"`
	Baseline *BaselineResult `json:"baseline,omitempty"`
	// Rows is the bare handler writing each request's post rows (Config.RowsBaseline).
	Rows *RowsResult `json:"rows_baseline,omitempty"`
	// With failure_share > 0: the comparison runs, all endpoints healthy, one before the
	// run and one after it, so that a machine whose speed drifts over the minutes moves
	// both sides of the ratio alike.
	Healthy      *PhaseResult `json:"all_healthy,omitempty"`
	HealthyAfter *PhaseResult `json:"all_healthy_after,omitempty"`
	Run          PhaseResult  `json:"run"`
	// IsolationX is the healthy endpoints' p99 in the run over the mean of the comparison
	// runs' p99s.
	IsolationX float64 `json:"isolation_p99_ratio,omitempty"`
	// PostIsolationX is the same ratio for the posts' own p99. A delivery's latency counts
	// from its post's due time, so it includes the post's: a rise the posts share is the
	// machine's, not a healthy endpoint waiting on a failing one.
	PostIsolationX float64 `json:"isolation_post_p99_ratio,omitempty"`
	// IsolationOverloaded names the phases whose deliveries fell behind: their p99 then
	// measures a growing backlog, and the ratios are not a measure of isolation.
	IsolationOverloaded []string `json:"isolation_overloaded,omitempty"`
	Description         string   `json:"description"`
}

// Machine describes where it ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryGiB int    `json:"memory_gib"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// BaselineResult is a bare net/http handler under the same client load.
type BaselineResult struct {
	RequestsPerSec float64 `json:"requests_per_sec"`
	Latency        Summary `json:"latency"`
	// CPUCores is the CPU the process used meanwhile (handler and load generator).
	CPUCores float64 `json:"cpu_cores"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds"`
}

// CPUPerRequestUS is the CPU of one request (µs): what one loopback HTTP round trip costs
// this machine, to set beside a post's (PhaseResult.CPUPerPostUS); 0 when not measured.
func (b BaselineResult) CPUPerRequestUS() float64 {
	if b.RequestsPerSec <= 0 {
		return 0
	}
	return b.CPUCores / b.RequestsPerSec * 1e6
}

// PhaseResult is one measured run.
type PhaseResult struct {
	Storage            string         `json:"storage"`
	Accepted           int64          `json:"accepted_posts"`
	PostsPerSec        float64        `json:"accepted_posts_per_sec"`
	PostLatency        Summary        `json:"post_latency"`
	Errors             map[string]int `json:"errors_by_status"`
	ExpectedDeliveries int64          `json:"expected_deliveries"`
	Delivered          int64          `json:"delivered"`
	Duplicates         int64          `json:"duplicate_deliveries"`
	DeliveriesPerSec   float64        `json:"deliveries_per_sec"`
	DeliveryLatency    Summary        `json:"post_to_receiver_latency"`
	DrainSeconds       float64        `json:"drain_seconds"`
	RSSMiB             float64        `json:"max_rss_mib"`
	// In the measured window: CPU used by the whole process (server, load and receivers),
	// in cores, and the servers' writers.
	CPUCores float64 `json:"cpu_cores"`
	WriterFigures
	// DeliveryAttemptMS is the mean delivery attempt in the measured window, request sent to
	// answer read (from the servers' metrics; 0 without attempts). With every endpoint
	// healthy, InFlightBoundPerSec is the deliveries a second that the endpoints' in-flight
	// bounds allow at that mean (nodes × endpoints × max_in_flight / attempt): a run whose
	// deliveries reach it is held by those bounds, not by the engine's other work.
	DeliveryAttemptMS   float64 `json:"delivery_attempt_ms,omitempty"`
	MaxInFlight         int     `json:"max_in_flight,omitempty"`
	InFlightBoundPerSec float64 `json:"in_flight_bound_per_sec,omitempty"`
	// SlotsBusy is, with every endpoint healthy, the share of the window the endpoints'
	// in-flight slots (nodes × endpoints × max_in_flight) were held by attempts: from a
	// slot's taking to the attempt's end, the engine's work before each request included.
	SlotsBusy float64 `json:"in_flight_slots_busy_share,omitempty"`
	// PostgreSQL: the batches a second begun by taking the cluster-wide batch lock first
	// (while other nodes write), the mean time one took to begin (BEGIN and the lock, round
	// trip included: mostly the wait for other nodes' batches), and that time summed over
	// the writers, in seconds a second.
	LockBegunPerSec float64 `json:"lock_begun_batches_per_sec,omitempty"`
	LockWaitMS      float64 `json:"lock_wait_ms,omitempty"`
	LockWaitSecs    float64 `json:"lock_wait_secs,omitempty"`
	// RerunsPerSec: write batches run again a second, for any reason
	// (chathooks_store_batch_reruns_total says which).
	RerunsPerSec float64 `json:"batch_reruns_per_sec,omitempty"`
	// CommitWindowMS is the commit window a writer had open when the load ended (SQLite
	// opens one while its writer is busy recording delivery outcomes or short of CPU).
	CommitWindowMS float64 `json:"commit_window_ms"`
	// The whole machine in the measured window (Linux): the share of its CPU time busy with
	// anything, and the share its hypervisor ran something else while its CPUs were ready
	// (a virtual machine's CPUs are then slower than their cores suggest).
	MachineBusy  float64 `json:"machine_busy_share"`
	MachineSteal float64 `json:"machine_steal_share"`
	// OtherCores is the CPU other processes used meanwhile, in cores: on average over the
	// window, and the most in one second of it (a database server in its own processes
	// counts here; on a shared machine, so does whatever else ran). A latency spike in the
	// same second as a burst of it came from outside the process.
	OtherCores     float64 `json:"other_cores"`
	OtherCoresPeak float64 `json:"other_cores_peak"`
	// DiskWriteMBps and DiskWriteKBPerPost are the bytes this process caused to be written
	// to storage in the measured window (Linux): SQLite's log, its checkpoints and anything
	// else of the process; PostgreSQL writes in its own processes, not counted here.
	DiskWriteMBps      float64 `json:"disk_write_mb_per_sec,omitempty"`
	DiskWriteKBPerPost float64 `json:"disk_write_kb_per_post,omitempty"`
	// ServerPostMS is the server's mean time on a post (request read to answer written,
	// from its metrics): the rest of the post latency is the network stack, the load
	// generator and waits for a CPU on either side.
	ServerPostMS float64 `json:"server_post_ms"`
	// Open-loop runs: posts due in the measured window, how late the generator sent them
	// (its own lag, included in every latency above), and the delivery verdict.
	Offered  int64    `json:"offered_posts,omitempty"`
	SendLag  *Summary `json:"send_lag,omitempty"`
	Timeline []Second `json:"timeline"`
	Verdict  Verdict  `json:"verdict"`
}

// CPUPerPostUS is the process's CPU over the posts accepted in the window (µs): a post's
// whole cost to the machine here, with its share of the deliveries, receivers and load
// generator; 0 when nothing was accepted.
func (p PhaseResult) CPUPerPostUS() float64 { return p.perPostUS(p.CPUCores) }

// OtherCPUPerPostUS is the other processes' CPU over the posts accepted in the window (µs):
// with PostgreSQL on the same machine, mostly the database's work a post, which grows as
// the same posts are committed in more, smaller batches; 0 when nothing was accepted.
func (p PhaseResult) OtherCPUPerPostUS() float64 { return p.perPostUS(p.OtherCores) }

// perPostUS spreads cores of CPU over the posts accepted a second, in µs a post.
func (p PhaseResult) perPostUS(cores float64) float64 {
	if p.PostsPerSec <= 0 {
		return 0
	}
	return cores / p.PostsPerSec * 1e6
}

// Run runs the benchmark: the baseline (if asked), then the configured run, between two
// all-healthy comparison runs if a failure share is set.
func Run(ctx context.Context, c Config) (Result, error) {
	c.defaults()
	if c.Rate > 0 {
		if need := int(math.Ceil(c.Rate / c.RoomRate)); c.Rooms < need {
			return Result{}, fmt.Errorf("bench: %d rooms cannot take %g posts/s at %g posts/s per room: need at least %d", c.Rooms, c.Rate, c.RoomRate, need)
		}
	}
	if c.API && c.ThreadKeys > 0 {
		return Result{}, errors.New("bench: --api posts through the REST API and --thread-keys posts Google Chat webhooks: choose one")
	}
	if c.ThreadKeys < 0 {
		return Result{}, fmt.Errorf("bench: --thread-keys %d: want a number of keys a room, or 0", c.ThreadKeys)
	}
	res := Result{Date: time.Now().UTC(), Machine: machine(), Config: c}
	if c.Rate > 0 {
		res.Description = fmt.Sprintf("open loop: %g %s posts/s due at even intervals, round-robin over %d rooms (each room every %.2fs), sent over up to %d keep-alive connections for %s (after %s warm-up), latency from each post's due time; %d standard-format endpoints subscribed to message_send",
			c.Rate, c.postKind(), c.Rooms, float64(c.Rooms)/c.Rate, c.Concurrency, c.Duration, c.Warmup, c.Endpoints)
	} else {
		res.Description = fmt.Sprintf("bursty: %d rooms at <= %.3g posts/s each, %d keep-alive clients making %s posts as fast as the room rate allows for %s (after %s warm-up); %d standard-format endpoints subscribed to message_send",
			c.Rooms, c.RoomRate, c.Concurrency, c.postKind(), c.Duration, c.Warmup, c.Endpoints)
	}
	if c.MaxInFlight > 0 && c.Endpoints > 0 {
		res.Description += fmt.Sprintf(", each sent up to %d deliveries at once (max_in_flight)", c.MaxInFlight)
	}
	if c.NoRoomLimit {
		res.Description += "; no per-room rate limit on the server"
	}
	if c.Mention {
		res.Description += "; each post mentions @Present"
	}
	if c.Nodes > 1 {
		res.Description += fmt.Sprintf("; %d server nodes sharing the database, posts spread over them", c.Nodes)
	}
	if c.FailureShare > 0 {
		res.Description += fmt.Sprintf(", %.0f%% of them %s", c.FailureShare*100, c.FailureMode)
	}
	if c.ReceiverLatency > 0 {
		res.Description += fmt.Sprintf(", healthy receivers answer after %s", c.ReceiverLatency)
	}
	if c.Baseline {
		fmt.Fprintln(c.Progress, "baseline: bare net/http handler...")
		b, err := baseline(ctx, c)
		if err != nil {
			return res, err
		}
		res.Baseline = &b
	}
	if c.RowsBaseline {
		fmt.Fprintln(c.Progress, "baseline: the same handler writing each request's post rows...")
		r, err := rowsBaseline(ctx, c)
		if err != nil {
			return res, err
		}
		res.Rows = &r
	}
	healthy := func(when string) (*PhaseResult, error) {
		if c.FailureShare == 0 {
			return nil, nil
		}
		fmt.Fprintf(c.Progress, "comparison run %s: all endpoints healthy...\n", when)
		hc := c
		hc.FailureShare = 0
		hc.Measure = nil
		h, err := runOnce(ctx, hc)
		return &h, err
	}
	var err error
	if res.Healthy, err = healthy("before"); err != nil {
		return res, err
	}
	fmt.Fprintln(c.Progress, "run...")
	if res.Run, err = runOnce(ctx, c); err != nil {
		return res, err
	}
	if res.HealthyAfter, err = healthy("after"); err != nil {
		return res, err
	}
	if before, after := res.Healthy, res.HealthyAfter; before != nil && after != nil {
		res.IsolationX = p99Ratio(res.Run.DeliveryLatency, before.DeliveryLatency, after.DeliveryLatency)
		res.PostIsolationX = p99Ratio(res.Run.PostLatency, before.PostLatency, after.PostLatency)
		res.IsolationOverloaded = overloaded(res)
	}
	return res, nil
}

// overloaded names the phases of an isolation run whose deliveries fell behind.
func overloaded(r Result) []string {
	var names []string
	for _, p := range []struct {
		name string
		r    *PhaseResult
	}{{"the healthy run before", r.Healthy}, {"the run with failures", &r.Run}, {"the healthy run after", r.HealthyAfter}} {
		if p.r != nil && p.r.Verdict.FellBehind {
			names = append(names, p.name)
		}
	}
	return names
}

// p99Ratio is run's p99 over the mean of the two comparison runs' p99s (0 if that mean is).
func p99Ratio(run, before, after Summary) float64 {
	mean := (before.P99 + after.P99) / 2
	if mean <= 0 {
		return 0
	}
	return run.P99 / mean
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loadLabels marks the calling goroutine, and those it starts, as the load generator's in
// CPU profiles (pprof -tagfocus bench=load), apart from the server's.
func loadLabels() {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("bench", "load")))
}

// newClient is the load generator's client: the server's own outgoing one (HTTP/1.1, the
// calling goroutine writes and reads on the connection), allowed to reach loopback. It has
// no overall timeout (http.Client's would add a goroutine a request with a transport not
// its own): every request is bounded by requestTimeout on its context instead.
func newClient(conns int) *http.Client {
	return egress.NewClient(egress.Options{AllowPrivate: true, MaxIdleConnsPerHost: conns * 2})
}

// requestTimeout bounds each request the benchmark makes.
const requestTimeout = 30 * time.Second

// postJSON posts body to url, with token as its bearer token unless "", and reads the
// whole answer; it returns the status.
func postJSON(client *http.Client, url, token, idemKey string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// api calls the admin API and decodes a JSON answer.
type api struct {
	base, token string
	client      *http.Client
}

func (a api) do(ctx context.Context, method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// parallel runs fn(i) for i in [0,n) on k goroutines, stopping at the first error.
func parallel(n, k int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type slot struct {
	url string
	// posts counts the room's posts (the thread key of each, with ThreadKeys).
	posts atomic.Int64
	// earliest is the earliest time (Unix nanoseconds) the room's next post may be sent;
	// senders reserve through it (see paced).
	earliest atomic.Int64
}

// sleepUntil waits on timer until t; false if ctx ended first.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// paced reserves the room's next send for a post whose due time has come at now: now
// itself, or, when the room's previous post went out less than gap before, one gap after
// that one. A load generator that fell behind (every worker busy, or the process stalled)
// then catches up without sending two posts of a room closer together than gap, so it
// never exceeds the room rate it promises (the server would rightly answer 429).
func (s *slot) paced(now time.Time, gap time.Duration) time.Time {
	for {
		prev := s.earliest.Load()
		send := now
		if e := time.Unix(0, prev); e.After(send) {
			send = e
		}
		if s.earliest.CompareAndSwap(prev, send.Add(gap).UnixNano()) {
			return send
		}
	}
}

func runOnce(ctx context.Context, c Config) (PhaseResult, error) {
	res := PhaseResult{Errors: map[string]int{}, Storage: "sqlite"}
	if c.DatabaseURL != "" {
		res.Storage = "postgres"
	}
	dir, cleanup, err := dataDir(c)
	if err != nil {
		return res, err
	}
	defer cleanup()
	token := "bench-" + randomToken()
	run := randomToken()[:8] // room ids unique per run (a PostgreSQL database may be reused)
	log := slog.New(slog.NewTextHandler(c.Progress, &slog.HandlerOptions{Level: slog.LevelError}))
	var nodes []*app.App
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for _, n := range nodes {
			_ = n.Shutdown(sctx)
		}
	}()
	for i := range c.Nodes {
		n, err := app.New(ctx, nodeConfig(c, filepath.Join(dir, strconv.Itoa(i)), token), log, io.Discard)
		if err != nil {
			return res, fmt.Errorf("bench: start server: %w", err)
		}
		if err := n.Start(); err != nil {
			return res, fmt.Errorf("bench: start server: %w", err)
		}
		nodes = append(nodes, n)
	}
	srv := nodes[0]
	client := newClient(c.Concurrency)
	// Before the nodes shut down (deferred calls run last first): a connection the client
	// dialed and never used would hold a node's shutdown for 5 s (net/http's server waits
	// that long for a new connection's first request).
	defer client.CloseIdleConnections()
	a := api{base: srv.URL(), token: token, client: client}

	// Receivers and endpoints.
	var sent SendTimes
	var dlat Latencies
	failing := int(math.Round(float64(c.Endpoints) * c.FailureShare))
	var receivers []*Receiver
	defer func() {
		for _, r := range receivers {
			r.Close()
		}
	}()
	for i := range c.Endpoints {
		mode := "ok"
		if i < failing {
			mode = c.FailureMode
		}
		r, err := StartReceiver(mode, c.ReceiverLatency, &sent, &dlat)
		if err != nil {
			return res, err
		}
		receivers = append(receivers, r)
		ep := map[string]any{
			"url": r.URL, "event_types": []string{"group_channel:message_send"}, "format": "standard",
			"description": "bench receiver " + strconv.Itoa(i),
		}
		if c.MaxInFlight > 0 {
			ep["max_in_flight"] = c.MaxInFlight
		}
		if err := a.do(ctx, "POST", "/endpoints", ep, nil); err != nil {
			return res, fmt.Errorf("bench: create endpoint: %w", err)
		}
	}

	slots, err := setupRooms(ctx, c, a, nodes, run)
	if err != nil {
		return res, err
	}

	// Load. Both shapes share these counters; each load goroutine only adds to them.
	var (
		seq, sentPosts        atomic.Int64 // post numbers handed out; posts sent (bursty "offered")
		accepted, acceptedAll atomic.Int64 // 200s in the measured window; 200s overall
		measuring             atomic.Bool  // bursty: inside the measured window
		plat, lag             Latencies
		errMu                 sync.Mutex
	)
	countErr := func(k string) { errMu.Lock(); res.Errors[k]++; errMu.Unlock() }
	errSnapshot := func() map[string]int {
		errMu.Lock()
		defer errMu.Unlock()
		return maps.Clone(res.Errors)
	}
	// What a post is: a Chime webhook's body answered 200, the REST API's answered 201, or
	// a Google Chat webhook's (its thread key appended by post) answered 200.
	head, auth, okCode := `{"Content":"chbench:`, "", http.StatusOK
	switch {
	case c.API:
		head, auth, okCode = `{"sender_id":"`+benchSender(run)+`","text":"chbench:`, token, http.StatusCreated
	case c.ThreadKeys > 0:
		head = `{"text":"chbench:`
	}
	// post sends one post and counts its outcome; latency runs from "from" (the due time in
	// open-loop runs, the send time in bursty ones).
	post := func(s *slot, n int64, from time.Time, measured bool, buf []byte) []byte {
		buf = append(buf[:0], head...)
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, "; "+benchText...)
		if c.Mention {
			buf = append(buf, ` @Present`...)
		}
		buf = append(buf, '"')
		if c.ThreadKeys > 0 {
			buf = append(buf, `,"thread":{"threadKey":"alert-`...)
			buf = strconv.AppendInt(buf, (s.posts.Add(1)-1)%int64(c.ThreadKeys), 10)
			buf = append(buf, `"}`...)
		}
		buf = append(buf, '}')
		if measured {
			sent.Store(uint64(n), from)
		}
		sentPosts.Add(1)
		var idemKey string
		if c.Idempotent {
			idemKey = "chbench-" + strconv.FormatInt(n, 10)
		}
		code, err := postJSON(client, s.url, auth, idemKey, buf)
		if err != nil {
			if ctx.Err() == nil {
				countErr("transport")
			}
			return buf
		}
		if code != okCode {
			countErr(strconv.Itoa(code))
			return buf
		}
		acceptedAll.Add(1)
		if measured {
			accepted.Add(1)
			plat.Add(time.Since(from))
		}
		return buf
	}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	t0 := time.Now()
	measureFrom, measureTo := t0.Add(c.Warmup), t0.Add(c.Warmup+c.Duration)
	var offered func(time.Time) int64
	var offeredMeasured int64
	// Two posts of a room go at least roomGap apart: 1.1 room periods, so arrival jitter
	// never puts two within one period at the server's limiter.
	roomGap := time.Duration(float64(time.Second) / c.RoomRate * 1.1)
	if c.Rate > 0 {
		// Open loop: post k is due at t0 + k/rate in room k mod rooms. A worker takes the
		// next k, waits for its due time and sends it; when every worker is busy the next
		// post goes out late, and its latencies still count from its due time.
		sched := schedule{rate: c.Rate, rooms: len(slots)}
		total := sched.count(c.Warmup + c.Duration)
		first := sched.count(c.Warmup) // the first measured post
		offeredMeasured = total - first
		offered = func(now time.Time) int64 { return min(total, sched.count(now.Sub(t0)+1)) }
		var next atomic.Int64
		// A room's posts are due rooms/rate apart (at least a room period). A late post's
		// successor is held to roomGap after it; never to more than the schedule's own
		// spacing, which would delay posts sent on time.
		gap := min(roomGap, sched.at(int64(sched.rooms)))
		for range c.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadLabels()
				timer := time.NewTimer(time.Hour)
				defer timer.Stop()
				buf := make([]byte, 0, 256)
				for lctx.Err() == nil {
					k := next.Add(1) - 1
					if k >= total {
						return
					}
					due := t0.Add(sched.at(k))
					if !sleepUntil(lctx, timer, due) {
						return
					}
					// Reserved once the post is due, so the room's spacing counts from
					// when its previous post really went out.
					sl := slots[sched.room(k)]
					if !sleepUntil(lctx, timer, sl.paced(time.Now(), gap)) {
						return
					}
					m := k >= first
					if m {
						lag.Add(time.Since(due))
					}
					buf = post(sl, k+1, due, m, buf)
				}
			}()
		}
	} else {
		// Bursty: each client cycles through its own rooms, posting to each as soon as the
		// room rate allows, so all rooms fire together.
		offered = func(time.Time) int64 { return sentPosts.Load() }
		for w := range c.Concurrency {
			var mine []*slot
			for i := w; i < len(slots); i += c.Concurrency {
				mine = append(mine, slots[i])
			}
			if len(mine) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadLabels()
				timer := time.NewTimer(time.Hour)
				defer timer.Stop()
				buf := make([]byte, 0, 256)
				for i := 0; lctx.Err() == nil; i = (i + 1) % len(mine) {
					s := mine[i]
					if !sleepUntil(lctx, timer, s.paced(time.Now(), roomGap)) {
						return
					}
					now := time.Now()
					buf = post(s, seq.Add(1), now, measuring.Load(), buf)
				}
			}()
		}
	}
	healthy := receivers[failing:]
	received := func() int64 {
		var n int64
		for _, r := range healthy {
			n += r.Received()
		}
		return n
	}
	var nodeURLs []string
	for _, n := range nodes {
		nodeURLs = append(nodeURLs, n.URL())
	}
	// The monitor samples the counters once a second into the timeline and prints a line;
	// cs is the nodes' commit counters read for the same moment.
	var last Second
	sample := func(now time.Time, phase string, cs commitSample) {
		s := Second{T: now.Sub(t0).Seconds(), Phase: phase, Offered: offered(now), Accepted: acceptedAll.Load(), Delivered: received()}
		s.Backlog = s.Accepted*int64(len(healthy)) - s.Delivered
		s.PostMaxMS, s.DeliveryMaxMS = plat.TakePeak(), dlat.TakePeak()
		s.SlowWrites = int64(cs.slow)
		s.CPU = cputime.Process().Seconds()
		s.Machine, _ = cputime.ReadMachine()
		fmt.Fprintf(c.Progress, "%s  errors %v  rss %.0f MiB\n", timelineRow(last, s, runtime.NumCPU()), errSnapshot(), maxRSSMiB())
		res.Timeline = append(res.Timeline, s)
		last = s
	}
	// watch samples each second until "until" (or done reports true, polled every 10 ms).
	watch := func(until time.Time, phase string, done func() bool) {
		poll := time.NewTicker(10 * time.Millisecond)
		defer poll.Stop()
		nextSample := time.Now().Add(time.Second)
		for ctx.Err() == nil {
			now := time.Now()
			if !now.Before(until) || (done != nil && done()) {
				return
			}
			if !now.Before(nextSample) {
				sample(now, phase, commitStats(ctx, client, nodeURLs))
				nextSample = nextSample.Add(time.Second)
			}
			<-poll.C
		}
	}
	if c.Warmup > 0 {
		watch(measureFrom, "warm-up", nil)
		sample(time.Now(), "warm-up", commitStats(ctx, client, nodeURLs))
	}
	stopMeasure := func() {}
	if c.Measure != nil {
		stopMeasure = c.Measure()
	}
	measuring.Store(true)
	d0, cpu0 := received(), cputime.Process()
	m0, _ := cputime.ReadMachine()
	w0, disk0 := diskWrites()
	c0 := commitStats(ctx, client, nodeURLs)
	watch(measureTo, "run", nil)
	measuring.Store(false)
	stopMeasure()
	d1, t1, cpu1 := received(), time.Now(), cputime.Process()
	m1, _ := cputime.ReadMachine()
	w1, disk1 := diskWrites()
	c1 := commitStats(ctx, client, nodeURLs)
	sample(t1, "run", c1) // the window's closing read, not a second one
	endOfLoad := last
	if c.Rate <= 0 {
		stopLoad()
	}
	// Open loop: posts due before the end may still be queued or in flight; keep sampling
	// (phase "late") while the workers finish them (each is bounded by the client timeout).
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	watch(t1.Add(time.Minute), "late", func() bool {
		select {
		case <-loadDone:
			return true
		default:
			return false
		}
	})
	stopLoad()
	<-loadDone
	elapsed := t1.Sub(measureFrom).Seconds()
	res.Accepted = accepted.Load()
	res.PostsPerSec = float64(res.Accepted) / elapsed
	res.PostLatency = plat.Summary()
	res.DeliveriesPerSec = float64(d1-d0) / elapsed
	res.CPUCores = (cpu1 - cpu0).Seconds() / elapsed
	res.MachineBusy, res.MachineSteal = m1.Since(m0).Shares()
	res.OtherCores = m1.Since(m0).Others(runtime.NumCPU(), res.CPUCores)
	if disk0 && disk1 && w1 >= w0 {
		res.DiskWriteMBps = float64(w1-w0) / 1e6 / elapsed
		if res.Accepted > 0 {
			res.DiskWriteKBPerPost = float64(w1-w0) / 1e3 / float64(res.Accepted)
		}
	}
	res.WriterFigures = writerFigures(c0, c1, elapsed)
	res.CommitWindowMS = c1.window * 1000
	if n := c1.lockWaits - c0.lockWaits; n > 0 {
		wait := c1.lockWaitSecs - c0.lockWaitSecs
		res.LockBegunPerSec, res.LockWaitMS, res.LockWaitSecs = n/elapsed, wait/n*1000, wait/elapsed
	}
	res.RerunsPerSec = (c1.reruns - c0.reruns) / elapsed
	if n := c1.attempts - c0.attempts; n > 0 {
		res.DeliveryAttemptMS = (c1.attemptSecs - c0.attemptSecs) / n * 1000
		res.MaxInFlight = c.MaxInFlight
		if res.MaxInFlight == 0 {
			res.MaxInFlight = chat.DefaultMaxInFlight
		}
		if failing == 0 { // each node's engine keeps each endpoint's bound on its own
			slots := float64(len(nodes) * len(receivers) * res.MaxInFlight)
			res.InFlightBoundPerSec = slots / (res.DeliveryAttemptMS / 1000)
			res.SlotsBusy = (c1.slotSecs - c0.slotSecs) / elapsed / slots
		}
	}
	if n := c1.posts - c0.posts; n > 0 {
		res.ServerPostMS = (c1.postSecs - c0.postSecs) / n * 1000
	}
	if c.Rate > 0 {
		res.Offered = offeredMeasured
		l := lag.Summary()
		res.SendLag = &l
	}

	// Drain: wait for every accepted post to reach every healthy receiver.
	res.ExpectedDeliveries = acceptedAll.Load() * int64(len(healthy))
	drainStart := time.Now()
	watch(drainStart.Add(c.Drain), "drain", func() bool { return received() >= res.ExpectedDeliveries })
	res.DrainSeconds = time.Since(drainStart).Seconds()
	sample(time.Now(), "drain", commitStats(ctx, client, nodeURLs))
	res.Delivered = received()
	for _, r := range healthy {
		res.Duplicates += r.dupes.Load()
	}
	res.DeliveryLatency = dlat.Summary()
	res.RSSMiB = maxRSSMiB()
	res.OtherCoresPeak = otherCoresPeak(res.Timeline, runtime.NumCPU())
	res.Verdict = judge(res.Timeline, endOfLoad, res.ExpectedDeliveries-res.Delivered, res.DrainSeconds, len(healthy))
	res.Verdict.heldByInFlight(res.SlotsBusy, res.InFlightBoundPerSec, res.MaxInFlight)
	return res, nil
}

// benchRoom is the id of room i of the run named run.
func benchRoom(run string, i int) string { return fmt.Sprintf("bench-%s-%06d", run, i) }

// benchSender is the user who makes the API posts of the run named run.
func benchSender(run string) string { return "bench-" + run + "-sender" }

// setupRooms creates the load's rooms through the API, as a deployment's are made (each
// room's and webhook's creation is an event in the outbox): rooms named bench-<run>-<n>,
// spread over the nodes, each with one incoming webhook, or (API posts) each with the
// sender as a member. It returns where each room's posts go.
func setupRooms(ctx context.Context, c Config, a api, nodes []*app.App, run string) ([]*slot, error) {
	sender := benchSender(run)
	if c.API {
		fmt.Fprintf(c.Progress, "creating %d rooms with a member...\n", c.Rooms)
		if err := a.do(ctx, "POST", "/users", map[string]any{"id": sender, "name": "Bench sender"}, nil); err != nil {
			return nil, fmt.Errorf("bench: create sender: %w", err)
		}
	} else {
		fmt.Fprintf(c.Progress, "creating %d rooms with webhooks...\n", c.Rooms)
	}
	slots := make([]*slot, c.Rooms)
	srv := nodes[0]
	err := parallel(c.Rooms, 32, func(i int) error {
		id := benchRoom(run, i)
		n := nodes[i%len(nodes)] // rooms spread over the nodes
		if c.API {
			if err := a.do(ctx, "POST", "/rooms", map[string]any{"id": id, "name": "Bench " + id, "member_ids": []string{sender}}, nil); err != nil {
				return err
			}
			slots[i] = &slot{url: n.URL() + "/api/v1/rooms/" + id + "/messages"}
			return nil
		}
		if err := a.do(ctx, "POST", "/rooms", map[string]any{"id": id, "name": "Bench " + id}, nil); err != nil {
			return err
		}
		var wh struct {
			URLs struct {
				Chime      string `json:"chime"`
				GoogleChat string `json:"google_chat"`
			} `json:"urls"`
		}
		if err := a.do(ctx, "POST", "/rooms/"+id+"/webhooks", map[string]any{"name": "bench"}, &wh); err != nil {
			return err
		}
		if wh.URLs.Chime == "" || wh.URLs.GoogleChat == "" {
			return errors.New("bench: webhook lacks a URL")
		}
		u := wh.URLs.Chime
		if c.ThreadKeys > 0 {
			u = wh.URLs.GoogleChat + "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
		}
		if n != srv {
			u = strings.Replace(u, srv.URL(), n.URL(), 1)
		}
		slots[i] = &slot{url: u}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: setup: %w", err)
	}
	return slots, nil
}

// baseline measures a handler that does nothing, under the same client shape.
func baseline(ctx context.Context, c Config) (BaselineResult, error) {
	return closedLoop(ctx, c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}), 0, 0, min(c.Duration, 5*time.Second), nil)
}

// dataDir is where the run's SQLite databases go: Config.DataDir, or a temporary directory
// that cleanup removes.
func dataDir(c Config) (dir string, cleanup func(), err error) {
	if c.DataDir != "" {
		return c.DataDir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "chathooks-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// nodeConfig is a benchmark server's: on loopback, its SQLite database under dir (or the
// configured PostgreSQL), admin token token, the room rate limit of the load, and allowed
// to deliver to the local receivers.
func nodeConfig(c Config, dir, token string) app.Config {
	return app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: c.DatabaseURL, AdminToken: token,
		RoomRateLimit: roomLimit(c), RoomRateBurst: 1, AllowPrivateTargets: true, Version: "bench",
	}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = int(math.Round(float64(kb) / (1 << 20)))
		}
	}
	return m
}

// maxRSSMiB is this process's peak resident set (server and load generator together).
func maxRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb) //nolint:errcheck
			return kb / 1024
		}
	}
	return 0
}

// roomLimit is the per-room rate limit the bench's servers enforce (0: none).
func roomLimit(c Config) float64 {
	if c.NoRoomLimit {
		return 0
	}
	return c.RoomRate
}
