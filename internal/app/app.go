// Package app is the composition root: it wires storage, the chat service, the broker,
// the HTTP server and the background workers, and runs them with one lifecycle.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/broker"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/console"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/metrics"
	"github.com/chathooks/chathooks/internal/render"
	"github.com/chathooks/chathooks/internal/server"
	"github.com/chathooks/chathooks/internal/store"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// Config is the server configuration.
type Config struct {
	Addr                string
	DataDir             string
	DatabaseURL         string
	AdminToken          string
	BaseURL             string
	RoomRateLimit       float64
	RoomRateBurst       int
	AllowPrivateTargets bool
	ShutdownTimeout     time.Duration
	Version             string
	// SecretKey (base64, 32 bytes) seals endpoint secrets at rest; see App.secretBox.
	SecretKey string
	// DeliveryLeaseMargin and DeliveryRescan tune the delivery engine (0: its defaults);
	// a node's claims come back to the others after endpoint timeout + lease margin.
	DeliveryLeaseMargin time.Duration
	DeliveryRescan      time.Duration
	Clock               clock.Clock // nil: the wall clock
	// WrapServiceStore, if set, wraps the store the chat service writes through (tests
	// use it to run code between a commit and what follows it).
	WrapServiceStore func(chat.Store) chat.Store
	// MaxStreams bounds the live (SSE) streams this process serves at once; beyond it a new
	// stream is answered 503. 0: DefaultMaxStreams.
	MaxStreams int
	// DeliveryRetention is how long finished deliveries, their attempts and the outbox
	// events are kept (see chat.Service.PruneDeliveryLog); 0 keeps them for good.
	DeliveryRetention time.Duration
	// JanitorInterval is how often the janitor runs (0: the JanitorInterval constant).
	JanitorInterval time.Duration
}

// App is one running chathooks server.
type App struct {
	cfg      Config
	log      *slog.Logger
	Store    chat.Store
	Service  *chat.Service
	Broker   *broker.Broker
	Metrics  *metrics.Metrics
	srv      *http.Server
	ln       net.Listener
	shutting atomic.Bool
	served   chan error

	stopJanitor context.CancelFunc
	janitorDone chan struct{}

	out    deliveryWiring // outgoing webhooks (deliveries.go)
	pg     *scaleOut      // PostgreSQL scale-out (postgres.go); nil on SQLite
	nodeID string
	// tokenSource says where the admin token in force came from (set once by New).
	tokenSource string
	routes      []server.Route   // the route table
	cons        *console.Console // the web console (console.go), built on first use
}

// Routes returns the server's route table.
func (a *App) Routes() []server.Route { return slices.Clone(a.routes) }

// JanitorInterval is how often expired idempotency keys and presence leases, and the
// delivery log past its retention, are pruned.
const JanitorInterval = 10 * time.Minute

// janitor prunes expired rows at start and then every interval, until ctx ends.
func (a *App) janitor(ctx context.Context) {
	defer close(a.janitorDone)
	every := a.cfg.JanitorInterval
	if every <= 0 {
		every = JanitorInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.pruneOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce runs one round of the janitor. A panic in it is a bug: logged, and the janitor
// goes on at its next round (it never takes the process down).
func (a *App) pruneOnce(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("janitor panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		}
	}()
	if n, err := a.Service.Prune(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("prune expired rows", slog.Any("error", err))
	} else if n > 0 {
		a.log.Debug("pruned expired rows", slog.Int64("rows", n))
	}
	p, err := a.Service.PruneDeliveryLog(ctx, a.cfg.DeliveryRetention)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("prune the delivery log", slog.Any("error", err))
	}
	if p.Rows() > 0 {
		a.log.Info("pruned the delivery log", slog.Int64("deliveries", p.Deliveries), slog.Int64("attempts", p.Attempts),
			slog.Int64("events", p.Events), slog.Time("created_before", p.Before))
	}
}

// New opens storage and wires the server; out receives the one-time admin token notice.
func New(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*App, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.DeliveryRetention < 0 {
		return nil, fmt.Errorf("app: delivery retention %s is negative", cfg.DeliveryRetention)
	}
	a := &App{cfg: cfg, log: log, Metrics: metrics.New(), Broker: broker.New(), served: make(chan error, 1), nodeID: ids.New("node", time.Now())}
	observe := func(n int, d time.Duration) {
		a.Metrics.CommitBatch.Observe(float64(n))
		a.Metrics.CommitDuration.Observe(d.Seconds())
	}
	for _, r := range sqlstore.RerunReasons {
		a.Metrics.BatchReruns.WithLabelValues(r) // every reason shown from the start, at 0
	}
	rerun := func(reason string) { a.Metrics.BatchReruns.WithLabelValues(reason).Inc() }
	st, err := store.Open(ctx, cfg.DataDir, cfg.DatabaseURL, store.Options{
		SQLite: sqlite.Options{Options: sqlstore.Options{Logger: log, ObserveBatch: observe, ObserveRerun: rerun,
			CommitWindow: sqlite.CommitWindow, ObserveWindow: func(d time.Duration) { a.Metrics.CommitWindow.Set(d.Seconds()) },
			ObserveStatements: func(wall, cpu time.Duration) {
				a.Metrics.WriterStatementSeconds.Add(wall.Seconds())
				a.Metrics.WriterStatementCPUSeconds.Add(cpu.Seconds())
			}}},
		Postgres: postgres.Options{Options: sqlstore.Options{Logger: log, ObserveBatch: observe, ObserveRerun: rerun, NodeID: a.nodeID,
			ObserveLockWait: func(d time.Duration) { a.Metrics.BatchLockWait.Observe(d.Seconds()) }}},
	})
	if err != nil {
		if errors.Is(err, sqlite.ErrDataDirInUse) {
			return nil, fmt.Errorf("app: open store: %w (stop that server, or give this one another --data directory)", err)
		}
		return nil, fmt.Errorf("app: open store: %w", err)
	}
	a.Store = st
	if err := a.openScaleOut(ctx); err != nil {
		st.Close()
		return nil, err
	}
	hash, err := a.bootstrapAdminToken(ctx, out)
	if err != nil {
		st.Close()
		return nil, err
	}
	// On PostgreSQL another node's commit that changes or revokes webhook tokens is
	// announced (LISTEN/NOTIFY) and drops this node's cached token lookups; a lookup is
	// also trusted for at most a minute, in case the listening connection was down when a
	// notification was sent and the reconnect came later.
	var webhookAuthTTL time.Duration
	if cfg.DatabaseURL != "" {
		webhookAuthTTL = time.Minute
	}
	var serviceStore chat.Store = st
	if cfg.WrapServiceStore != nil {
		serviceStore = cfg.WrapServiceStore(st)
	}
	a.Service = chat.NewService(chat.Config{
		Store: serviceStore, Clock: cfg.Clock, Renderer: renderer{render.New()}, Publisher: a.Broker, Dispatcher: a.dispatcher(),
		Logger: log, NodeID: a.nodeID, Tokens: webhookTokens{}, WebhookAuthTTL: webhookAuthTTL,
	})
	apiMux := http.NewServeMux()
	humaAPI := api.New(apiMux, a.Service, newStreamGate(a.Broker, cfg.MaxStreams), log, cfg.Version, a.apiInbound, a.apiDeliveries, a.apiPortal(hash))
	handler, routes := server.Handler(server.Routes{
		Log: log, Metrics: a.Metrics, API: apiMux, OpenAPI: humaAPI.OpenAPI(), AdminHash: hash, ShuttingDown: &a.shutting,
		Ready:    func(ctx context.Context) error { return st.Ping(ctx) },
		Inbound:  a.inboundHandler(),
		Sendbird: sendbirdSettings{a: a},
		Console:  consoleRoutes(a.console(hash)),
	})
	a.routes = routes
	a.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// bootstrapAdminToken stores the configured token's hash, or generates a token on a new
// database and prints it once. It records in a.tokenSource which token is in force and
// where it came from.
func (a *App) bootstrapAdminToken(ctx context.Context, out io.Writer) (string, error) {
	stored, err := a.Store.AdminTokenHash(ctx)
	if err != nil {
		return "", fmt.Errorf("app: read admin token: %w", err)
	}
	if a.cfg.AdminToken != "" {
		h := server.HashToken(a.cfg.AdminToken)
		switch {
		case h == stored:
			a.tokenSource = "the one given by --admin-token (CHATHOOKS_ADMIN_TOKEN), already stored"
			return h, nil
		case stored == "":
			a.tokenSource = "the one given by --admin-token (CHATHOOKS_ADMIN_TOKEN), now stored: later starts without the flag keep it"
		default:
			a.tokenSource = "the one given by --admin-token (CHATHOOKS_ADMIN_TOKEN); it REPLACED the stored token, which no longer works, also after later starts without the flag"
			a.log.Warn("--admin-token replaced the stored admin token: the previous token no longer works")
		}
		if err := a.Store.Write(ctx, func(tx chat.Tx) error { return tx.SetAdminTokenHash(h) }); err != nil {
			return "", fmt.Errorf("app: store admin token: %w", err)
		}
		return h, nil
	}
	if stored != "" {
		a.tokenSource = "the one stored in the database (generated on first start, or the last --admin-token given)"
		return stored, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := "cht_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := server.HashToken(tok)
	if err := a.Store.Write(ctx, func(tx chat.Tx) error { return tx.SetAdminTokenHash(h) }); err != nil {
		return "", fmt.Errorf("app: store admin token: %w", err)
	}
	a.tokenSource = "generated now and printed above; stored (hashed), it stays in force until --admin-token replaces it"
	fmt.Fprintf(out, "\nA new admin token was generated. It is shown only this once; keep it:\n\n    %s\n\n", tok)
	return h, nil
}

// AdminTokenSource says which admin token is in force and where it came from.
func (a *App) AdminTokenSource() string { return a.tokenSource }

// Start listens on the configured address and serves in the background.
func (a *App) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("app: listen: %w", err)
	}
	a.ln = ln
	a.startScaleOut()
	if err := a.startDeliveries(); err != nil {
		ln.Close()
		return err
	}
	go func() { a.served <- a.srv.Serve(ln) }()
	jctx, stop := context.WithCancel(context.Background())
	a.stopJanitor = stop
	a.janitorDone = make(chan struct{})
	go a.janitor(jctx)
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Shutdown stops accepting, ends live streams (their clients resume with Last-Event-ID),
// finishes in-flight requests and stops the delivery engine, both bounded by ctx, then
// closes storage. In-flight deliveries get the whole of ctx as grace, whatever the HTTP
// side takes: the two stop concurrently.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutting.Store(true)
	if a.stopJanitor != nil {
		a.stopJanitor()
		<-a.janitorDone
	}
	a.Broker.Close()
	outDone := make(chan error, 1)
	go func() { // joined below, before the store closes
		defer func() {
			if p := recover(); p != nil {
				outDone <- fmt.Errorf("app: stopping the delivery engine panicked: %v", p)
			}
		}()
		outDone <- a.stopDeliveries(ctx)
	}()
	err := a.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, a.srv.Close())
	}
	err = errors.Join(err, <-outDone)
	a.stopScaleOut()
	return errors.Join(err, a.Store.Close())
}

// Wait blocks until ctx ends (or the server fails), then shuts down within the configured
// timeout.
func (a *App) Wait(ctx context.Context) error {
	a.log.Info("chathooks listening", slog.String("addr", a.listenAddr()), slog.String("url", a.URL()),
		slog.String("admin_token", a.tokenSource))
	if note := a.BaseURLNote(); note != "" {
		a.log.Warn("webhook URLs " + note)
	}
	select {
	case <-ctx.Done():
	case err := <-a.served:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("app: serve: %w", err)
		}
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	return a.Shutdown(sctx)
}
