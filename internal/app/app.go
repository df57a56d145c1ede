// Package app is the composition root: it wires storage, the chat service, the broker,
// the HTTP server and the background workers, and runs them with one lifecycle.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/broker"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/metrics"
	"github.com/chathooks/chathooks/internal/render"
	"github.com/chathooks/chathooks/internal/server"
	"github.com/chathooks/chathooks/internal/store"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// Config is the server configuration (SPEC §1).
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
	// MaxStreams bounds the live (SSE) streams this process serves at once; beyond it a new
	// stream is answered 503. 0: DefaultMaxStreams.
	MaxStreams int
	Clock      clock.Clock // nil: the wall clock
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

	out    outbound  // outgoing webhooks (outbound.go)
	pg     *scaleOut // PostgreSQL scale-out (postgres.go); nil on SQLite
	nodeID string
}

// JanitorInterval is how often expired idempotency keys and presence leases are pruned.
const JanitorInterval = 10 * time.Minute

// janitor prunes expired rows now and then, until ctx ends.
func (a *App) janitor(ctx context.Context) {
	defer close(a.janitorDone)
	t := time.NewTicker(JanitorInterval)
	defer t.Stop()
	for {
		if n, err := a.Service.Prune(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("prune expired rows", slog.Any("error", err))
		} else if n > 0 {
			a.log.Debug("pruned expired rows", slog.Int64("rows", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
	a := &App{cfg: cfg, log: log, Metrics: metrics.New(), Broker: broker.New(), served: make(chan error, 1), nodeID: ids.New("node", time.Now())}
	observe := func(n int) { a.Metrics.CommitBatch.Observe(float64(n)) }
	st, err := store.Open(ctx, cfg.DataDir, cfg.DatabaseURL, store.Options{
		SQLite:   sqlite.Options{Options: sqlstore.Options{Logger: log, ObserveBatch: observe}},
		Postgres: postgres.Options{Options: sqlstore.Options{Logger: log, ObserveBatch: observe, NodeID: a.nodeID}},
	})
	if err != nil {
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
	a.Service = chat.NewService(chat.Config{
		Store: st, Clock: cfg.Clock, Renderer: renderer{render.New()}, Publisher: a.publisher(), Logger: log, NodeID: a.nodeID,
	})
	apiMux := http.NewServeMux()
	humaAPI := api.New(apiMux, a.Service, newStreamGate(a.Broker, cfg.MaxStreams), log, cfg.Version, a.apiInbound, a.apiOutbound)
	handler := server.Handler(server.Routes{
		Log: log, Metrics: a.Metrics, API: apiMux, AdminHash: hash, ShuttingDown: &a.shutting,
		OpenAPI: func() ([]byte, error) { return json.Marshal(humaAPI.OpenAPI()) },
		Ready:   func(ctx context.Context) error { return st.Ping(ctx) },
		Extra: func(mux *http.ServeMux) {
			a.routeInbound(mux)
			a.routeOutbound(mux)
		},
	})
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
// database and prints it once.
func (a *App) bootstrapAdminToken(ctx context.Context, out io.Writer) (string, error) {
	stored, err := a.Store.AdminTokenHash(ctx)
	if err != nil {
		return "", fmt.Errorf("app: read admin token: %w", err)
	}
	if a.cfg.AdminToken != "" {
		h := server.HashToken(a.cfg.AdminToken)
		if h != stored {
			if err := a.Store.Write(ctx, func(tx chat.Tx) error { return tx.SetAdminTokenHash(h) }); err != nil {
				return "", fmt.Errorf("app: store admin token: %w", err)
			}
		}
		return h, nil
	}
	if stored != "" {
		return stored, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := "cht_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := server.HashToken(tok)
	if err := a.Store.Write(ctx, func(tx chat.Tx) error { return tx.SetAdminTokenHash(h) }); err != nil {
		return "", fmt.Errorf("app: store admin token: %w", err)
	}
	fmt.Fprintf(out, "\nA new admin token was generated. It is shown only this once; keep it:\n\n    %s\n\n", tok)
	return h, nil
}

// Start listens on the configured address and serves in the background.
func (a *App) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("app: listen: %w", err)
	}
	a.ln = ln
	a.startScaleOut()
	if err := a.startOutbound(); err != nil {
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

// URL is the server's base URL.
func (a *App) URL() string {
	if a.cfg.BaseURL != "" {
		return a.cfg.BaseURL
	}
	return "http://" + a.Addr()
}

// Shutdown stops accepting, finishes in-flight requests (bounded by ctx), stops the
// workers and closes storage.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutting.Store(true)
	if a.stopJanitor != nil {
		a.stopJanitor()
		<-a.janitorDone
	}
	err := a.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, a.srv.Close())
	}
	err = errors.Join(err, a.stopOutbound(ctx))
	a.stopScaleOut()
	return errors.Join(err, a.Store.Close())
}

// Wait blocks until ctx ends (or the server fails), then shuts down within the configured
// timeout.
func (a *App) Wait(ctx context.Context) error {
	a.log.Info("chathooks listening", slog.String("addr", a.Addr()), slog.String("url", a.URL()))
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
