// Package cli parses the command line and runs a subcommand: serve (the default), bench,
// healthcheck, version, and the operator commands that talk to a running server (rooms,
// webhooks, endpoints, send, tail).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/bench"
	"github.com/chathooks/chathooks/internal/version"
)

// ServeCmd runs the server. Every flag has an environment variable.
type ServeCmd struct {
	Addr                string        `default:"127.0.0.1:8080" env:"CHATHOOKS_ADDR" help:"Address to listen on."`
	Data                string        `default:"./chathooks-data" env:"CHATHOOKS_DATA" help:"Directory of the embedded SQLite database (created on first start)."`
	DatabaseURL         string        `env:"CHATHOOKS_DATABASE_URL" help:"postgres://... to use PostgreSQL (several nodes may share it) instead of SQLite."`
	AdminToken          string        `env:"CHATHOOKS_ADMIN_TOKEN" help:"Admin bearer token. Given, it is stored (hashed) and replaces any earlier token for good, also for later starts without it. Unset, the stored token stays in force; on a new database one is generated, stored and printed once. The start says which token is in force."`
	BaseURL             string        `env:"CHATHOOKS_BASE_URL" help:"Public base URL used to build webhook URLs. Default: http://<addr>; when --addr has no host (:8080, 0.0.0.0, [::]), the Host each API request was sent to."`
	RoomRateLimit       float64       `default:"1" env:"CHATHOOKS_ROOM_RATE_LIMIT" help:"Incoming webhook messages per second per room (0 = unlimited)."`
	RoomRateBurst       int           `default:"1" env:"CHATHOOKS_ROOM_RATE_BURST" help:"Burst of the per-room incoming rate limit."`
	AllowPrivateTargets bool          `env:"CHATHOOKS_ALLOW_PRIVATE_TARGETS" help:"Allow outgoing deliveries to loopback and private addresses."`
	LogLevel            string        `default:"info" enum:"debug,info,warn,error" env:"CHATHOOKS_LOG_LEVEL" help:"Log level (debug, info, warn, error)."`
	LogFormat           string        `default:"text" enum:"text,json" env:"CHATHOOKS_LOG_FORMAT" help:"Log format (text or json)."`
	ShutdownTimeout     time.Duration `default:"15s" env:"CHATHOOKS_SHUTDOWN_TIMEOUT" help:"How long shutdown waits for in-flight requests and deliveries."`
	SecretKey           string        `env:"CHATHOOKS_SECRET_KEY" help:"Base64 32-byte key sealing endpoint secrets at rest (default: a key file in --data; with PostgreSQL, a key kept in the database)."`
	DeliveryLeaseMargin time.Duration `default:"30s" env:"CHATHOOKS_DELIVERY_LEASE_MARGIN" help:"Added to the longest endpoint timeout to make a delivery lease: how long a crashed node's deliveries wait before another node takes them."`
	DeliveryRescan      time.Duration `default:"30s" env:"CHATHOOKS_DELIVERY_RESCAN" help:"Period of the delivery engine's safety re-scan of the database (work is handed over in memory; the re-scan only catches a lost wake-up)."`
	MaxStreams          int           `default:"5000" env:"CHATHOOKS_MAX_STREAMS" help:"Live (SSE) streams this process serves at once; more are answered 503."`
	DeliveryRetention   time.Duration `default:"720h" env:"CHATHOOKS_DELIVERY_RETENTION" help:"How long finished deliveries (with their attempts) and outbox events are kept before they are pruned; it also bounds how far back replay and stream resume reach. 0 keeps them for good. Messages are never pruned."`
}

// VersionCmd prints the version.
type VersionCmd struct{}

// BenchCmd runs the load benchmark against an in-process server on loopback.
type BenchCmd struct {
	DatabaseURL     string        `env:"CHATHOOKS_DATABASE_URL" help:"Benchmark PostgreSQL (postgres://...) instead of embedded SQLite."`
	Duration        time.Duration `default:"20s" help:"Measured load duration."`
	Warmup          time.Duration `default:"3s" help:"Unmeasured load before the measurement."`
	Rate            float64       `help:"Open-loop load: offer this many posts/s, evenly spaced and round-robin over the rooms, with latency measured from each post's due time (0: bursty load, every room posting as fast as its rate allows)."`
	Rooms           int           `help:"Rooms (each with one incoming webhook); posts never exceed --room-rate per room. Default 25000, or 1.25 × rate / room-rate with --rate."`
	RoomRate        float64       `default:"1" help:"Posts per second per room (the server's room rate limit is set to the same)."`
	NoRoomLimit     bool          `help:"Run the servers without a per-room rate limit (posts still keep to --room-rate per room)."`
	Mention         bool          `help:"End every post with @Present, as the Chime documentation's example does (the server reads the room's members to resolve it)."`
	API             bool          `name:"api" help:"Post through the REST API (POST /api/v1/rooms/{id}/messages, answered 201) as a user who is a member of every room, instead of to Chime webhooks."`
	ThreadKeys      int           `help:"Post Google Chat webhooks instead, each in the thread of one of this many keys a room (thread.threadKey, messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD): a key's first post starts its thread, the rest reply in it."`
	Idempotent      bool          `help:"Give each post an Idempotency-Key header of its own, as a client that retries safely does."`
	Concurrency     int           `help:"Concurrent keep-alive HTTP clients posting. Default 64, or rate / 10 (at least 64) with --rate."`
	Endpoints       int           `default:"4" help:"Outgoing endpoints (standard format, message_send), each a local receiver."`
	MaxInFlight     int           `help:"Each endpoint's max_in_flight: deliveries sent to it at once (default: the server's, 16)."`
	ReceiverLatency time.Duration `default:"0s" help:"How long healthy receivers take to answer."`
	FailureShare    float64       `default:"0" help:"Share of endpoints that fail (0..1); with > 0 the run is compared with all-healthy runs made before and after it."`
	FailureMode     string        `default:"blackhole" enum:"blackhole,500" help:"How failing endpoints fail: blackhole (never answer) or 500."`
	Baseline        bool          `default:"true" negatable:"" help:"Measure a bare net/http handler first, for context."`
	RowsBaseline    bool          `help:"Also measure the bare handler writing each request's message and event rows through a server's store before it answers (durable, group-committed, nothing parsed, authenticated or rendered): what this machine's HTTP and storage allow a post, to set the posts beside."`
	Drain           time.Duration `default:"30s" help:"How long to wait after the load for deliveries to finish."`
	Nodes           int           `default:"1" help:"With --database-url: server nodes sharing the database (posts are spread over them)."`
	JSON            string        `help:"Also write the result as JSON to this file ('-' for stdout)."`
	Backlog         int           `help:"Instead: seed this many pending deliveries, restart a server process on them, and measure time to first delivery and peak RSS."`
	BacklogWatch    time.Duration `default:"10s" help:"With --backlog: how long to watch the restarted server."`
	CPUProfile      string        `help:"Write a CPU profile of the measured load (server and load generator) to this file."`
	Trace           string        `help:"Write an execution trace of the measured load to this file (go tool trace)."`
	MemProfile      string        `help:"Write an allocation profile of the whole run (go tool pprof -sample_index=alloc_space) to this file."`
}

type cliArgs struct {
	VersionFlag kong.VersionFlag `name:"version" help:"Print the version and exit."`

	Serve       ServeCmd       `cmd:"" default:"withargs" help:"Run the server (the default command). Other commands: rooms, webhooks, endpoints, settings, send, tail, healthcheck, bench, version (chathooks <command> --help). Every flag can also be set by its environment variable."`
	Rooms       RoomsCmd       `cmd:"" help:"List or create rooms on a running server."`
	Webhooks    WebhooksCmd    `cmd:"" help:"Create, list, regenerate or delete a room's incoming webhooks."`
	Endpoints   EndpointsCmd   `cmd:"" help:"Create and list outgoing endpoints; inspect, retry and replay their deliveries."`
	Settings    SettingsCmd    `cmd:"" help:"Show or change the workspace settings (the failure alerts room)."`
	Send        SendCmd        `cmd:"" help:"Send a message to a room."`
	Tail        TailCmd        `cmd:"" help:"Follow a room's live stream in the terminal (reconnects and resumes by itself)."`
	Healthcheck HealthcheckCmd `cmd:"" help:"Exit 0 when the server on --addr answers /readyz with 200 (for container health checks)."`
	Bench       BenchCmd       `cmd:"" help:"Load-test a server on loopback and print throughput and latency."`
	Version     VersionCmd     `cmd:"" help:"Print the version."`
}

type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// Run runs the command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cliArgs
	exit := -1
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	parser, err := kong.New(&c,
		kong.Name("chathooks"),
		kong.Description("A self-hosted chat backend whose integration surface is webhooks in both directions."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code; panic(exitPanic{}) }),
		kong.UsageOnError(),
		kong.Vars{"version": "chathooks " + version.String()},
		kong.Bind(e),
	)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// "chathooks --help" documents the default command, serve, with every flag.
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		args = []string{"serve", "--help"}
	}
	code := func() (code int) {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(exitPanic); ok {
					code = exit
					return
				}
				panic(p)
			}
		}()
		kctx, err := parser.Parse(args)
		if err != nil {
			parser.Errorf("%s", err)
			return 2
		}
		if err := kctx.Run(e); err != nil {
			fmt.Fprintf(stderr, "chathooks: %v\n", err)
			return 1
		}
		return 0
	}()
	return code
}

type exitPanic struct{}

// Run runs the benchmark and prints its table (and JSON if asked).
func (b BenchCmd) Run(e *env) error {
	if b.FailureShare < 0 || b.FailureShare > 1 {
		return errors.New("--failure-share must be between 0 and 1")
	}
	if b.Rate < 0 {
		return errors.New("--rate must not be negative")
	}
	// Profiles and the trace cover the measured window of the load only (with --backlog,
	// the whole command); the allocation profile counts from the start of the process.
	type recording struct {
		path  string
		start func(io.Writer) error
		stop  func()
		f     *os.File
	}
	var recordings []recording
	for _, r := range []recording{
		{path: b.CPUProfile, start: pprof.StartCPUProfile, stop: pprof.StopCPUProfile},
		{path: b.Trace, start: trace.Start, stop: trace.Stop},
	} {
		if r.path == "" {
			continue
		}
		f, err := os.Create(r.path)
		if err != nil {
			return err
		}
		defer f.Close()
		r.f = f
		recordings = append(recordings, r)
	}
	measure := func() (stop func()) {
		var started []recording
		for _, r := range recordings {
			if err := r.start(r.f); err != nil {
				fmt.Fprintf(e.stderr, "chathooks: %s: %v\n", r.path, err)
				continue
			}
			started = append(started, r)
		}
		return func() {
			for _, r := range started {
				r.stop()
			}
		}
	}
	if b.MemProfile != "" {
		f, err := os.Create(b.MemProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		defer func() { _ = pprof.Lookup("allocs").WriteTo(f, 0) }()
	}
	if b.Backlog > 0 {
		defer measure()()
		res, err := bench.Backlog(e.ctx, b.Backlog, b.BacklogWatch, e.stderr)
		if err != nil {
			return err
		}
		bench.WriteBacklog(e.stdout, res)
		return writeJSON(e.stdout, b.JSON, res)
	}
	res, err := bench.Run(e.ctx, bench.Config{
		DatabaseURL: b.DatabaseURL, Duration: b.Duration, Warmup: b.Warmup, Rooms: b.Rooms, RoomRate: b.RoomRate, NoRoomLimit: b.NoRoomLimit, Mention: b.Mention, API: b.API, ThreadKeys: b.ThreadKeys, Idempotent: b.Idempotent,
		Concurrency: b.Concurrency, Endpoints: b.Endpoints, MaxInFlight: b.MaxInFlight, ReceiverLatency: b.ReceiverLatency,
		FailureShare: b.FailureShare, FailureMode: b.FailureMode, Baseline: b.Baseline, RowsBaseline: b.RowsBaseline, Drain: b.Drain, Progress: e.stderr,
		Nodes: b.Nodes, Rate: b.Rate, Measure: measure,
	})
	if err != nil {
		return err
	}
	bench.WriteTable(e.stdout, res)
	return writeJSON(e.stdout, b.JSON, res)
}

// writeJSON writes v as JSON to path ("-": stdout; "": nowhere).
func writeJSON(stdout io.Writer, path string, v any) error {
	if path == "" {
		return nil
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if path == "-" {
		_, err = stdout.Write(append(out, '\n'))
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// Run prints the version.
func (VersionCmd) Run(e *env) error {
	fmt.Fprintf(e.stdout, "chathooks %s\n", version.String())
	return nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Config converts the flags to the app configuration.
func (s ServeCmd) Config() app.Config {
	return app.Config{
		Addr: s.Addr, DataDir: s.Data, DatabaseURL: s.DatabaseURL, AdminToken: s.AdminToken,
		BaseURL: strings.TrimSuffix(s.BaseURL, "/"), RoomRateLimit: s.RoomRateLimit, RoomRateBurst: s.RoomRateBurst,
		AllowPrivateTargets: s.AllowPrivateTargets, ShutdownTimeout: s.ShutdownTimeout, Version: version.String(),
		SecretKey: s.SecretKey, DeliveryLeaseMargin: s.DeliveryLeaseMargin, DeliveryRescan: s.DeliveryRescan,
		MaxStreams: s.MaxStreams, DeliveryRetention: s.DeliveryRetention,
	}
}

// validate checks the flags that kong's types do not.
func (s ServeCmd) validate() error {
	if s.RoomRateLimit < 0 || s.RoomRateBurst < 1 {
		return errors.New("--room-rate-limit must be >= 0 and --room-rate-burst >= 1")
	}
	if s.DeliveryRetention < 0 {
		return errors.New("--delivery-retention must not be negative (0 keeps the delivery log for good)")
	}
	return nil
}

// Run starts the server and blocks until ctx ends (SIGINT/SIGTERM), then shuts down.
func (s ServeCmd) Run(e *env) error {
	if err := s.validate(); err != nil {
		return err
	}
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat)
	a, err := app.New(e.ctx, s.Config(), log, e.stdout)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		_ = a.Shutdown(context.Background())
		return err
	}
	where := "SQLite in " + s.Data
	if s.DatabaseURL != "" {
		where = "PostgreSQL"
	}
	fmt.Fprintf(e.stdout, "chathooks %s is running on %s (storage: %s)\n  Console: %s/ (sign in with the admin token)\n  API:     %s/api/v1 (Authorization: Bearer <admin token>)\n  OpenAPI: %s/openapi.json\n  Health:  %s/healthz\n",
		version.String(), a.URL(), where, a.URL(), a.URL(), a.URL(), a.URL())
	fmt.Fprintf(e.stdout, "  Admin token in force: %s.\n", a.AdminTokenSource())
	if note := a.BaseURLNote(); note != "" {
		fmt.Fprintf(e.stdout, "  Webhook URLs: %s.\n", note)
	}
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	return a.Wait(e.ctx)
}
