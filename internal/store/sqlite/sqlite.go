// Package sqlite is the embedded storage: one SQLite file in WAL mode with
// synchronous=FULL. Every write goes through one writer goroutine that owns the only write
// connection and commits whatever is queued as one transaction (group commit: one fsync for
// many requests); reads use a separate pool of query-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tune the store.
type Options struct {
	Logger *slog.Logger
	// MaxBatch caps how many write requests share one transaction (default 256).
	MaxBatch int
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// ObserveBatch, if set, is called after each commit with the number of requests in it.
	ObserveBatch func(n int)
	// GroupCommit false commits every request alone (for benchmarks that compare).
	NoGroupCommit bool
}

var _ chat.Store = (*Store)(nil)

// Store is the SQLite implementation of chat.Store.
type Store struct {
	opts Options
	log  *slog.Logger
	wdb  *sql.DB
	rdb  *sql.DB
	conn *sql.Conn

	reqs     chan *writeReq
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	stmts    map[string]*sql.Stmt // writer goroutine only
	wctx     context.Context
	wcancel  context.CancelFunc
	batchBuf []*writeReq
	routes   *chat.Routes // outgoing endpoint routing cache (writer goroutine only; delivery.go)
}

type writeReq struct {
	ctx  context.Context
	fn   func(chat.Tx) error
	err  error
	done chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

// DSN returns the driver data source for a database file.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(on)")
	q.Add("_pragma", "synchronous(full)")
	q.Add("_pragma", "journal_mode(wal)")
	if readOnly {
		q.Add("_pragma", "query_only(on)")
	}
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database in dir, applies migrations and starts the
// writer.
func Open(ctx context.Context, dir string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	path := filepath.Join(dir, "chathooks.db")
	wdb, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		wdb.Close()
		return nil, err
	}
	if err := migrate.Up(ctx, wdb, ms, func(int) string { return "?" }); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: writer conn: %w", err)
	}
	rdb, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open read pool: %w", err)
	}
	rdb.SetMaxOpenConns(o.ReadConns)
	rdb.SetMaxIdleConns(o.ReadConns)
	rdb.SetConnMaxIdleTime(0)
	s := &Store{
		opts: o, log: o.Logger, wdb: wdb, rdb: rdb, conn: conn,
		reqs: make(chan *writeReq, 4096), stop: make(chan struct{}), done: make(chan struct{}),
		stmts: map[string]*sql.Stmt{},
	}
	s.wctx, s.wcancel = context.WithCancel(context.Background())
	go s.writer()
	return s, nil
}

// SchemaVersion returns the applied migration version and the version this binary knows.
func (s *Store) SchemaVersion(ctx context.Context) (have, want int, err error) {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return 0, 0, err
	}
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return int(v.Int64), len(ms), nil
}

// Ping checks that the database answers a read and that the writer is running.
func (s *Store) Ping(ctx context.Context) error {
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return chat.Errorf(chat.CodeUnavailable, "database is closed")
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close stops the writer (after it finishes queued writes) and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.closeMu.Unlock()
	<-s.done
	s.wcancel()
	for _, st := range s.stmts {
		st.Close()
	}
	err := errors.Join(s.conn.Close(), s.rdb.Close(), s.wdb.Close())
	if err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Write runs fn in the writer's current batch transaction and returns once it is durable.
func (s *Store) Write(ctx context.Context, fn func(chat.Tx) error) error {
	r := reqPool.Get().(*writeReq)
	r.ctx, r.fn, r.err = ctx, fn, nil
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		reqPool.Put(r)
		return chat.Errorf(chat.CodeUnavailable, "database is closed")
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		reqPool.Put(r)
		return fmt.Errorf("sqlite: write: %w", ctx.Err())
	}
	s.closeMu.RUnlock()
	// Once queued, the request is always answered: the writer never drops one.
	<-r.done
	err := r.err
	r.ctx, r.fn, r.err = nil, nil, nil
	reqPool.Put(r)
	return err
}

func (s *Store) writer() {
	defer close(s.done)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-s.reqs:
					s.runBatch([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch := append(s.batchBuf[:0], first)
		if !s.opts.NoGroupCommit {
		drain:
			for len(batch) < s.opts.MaxBatch {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
		}
		s.runBatch(batch)
		clear(batch)
		s.batchBuf = batch[:0]
	}
}

func (s *Store) execRaw(q string) error {
	_, err := s.conn.ExecContext(s.wctx, q)
	return err
}

func (s *Store) runBatch(batch []*writeReq) {
	if err := s.execRaw("BEGIN IMMEDIATE"); err != nil {
		s.failAll(batch, fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	tx := &Tx{s: s}
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("sqlite: write: %w", err)
			continue
		}
		if err := s.execRaw("SAVEPOINT w"); err != nil {
			r.err = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		err := s.call(r.fn, tx)
		if err != nil {
			s.routes = nil // may have been loaded from rolled-back rows
			if rbErr := s.execRaw("ROLLBACK TO w"); rbErr != nil {
				// The transaction is unusable: fail the whole batch.
				_ = s.execRaw("ROLLBACK")
				s.failAll(batch, fmt.Errorf("sqlite: rollback to savepoint: %w", rbErr))
				return
			}
			r.err = err
		} else {
			ok++
		}
		if err := s.execRaw("RELEASE w"); err != nil {
			_ = s.execRaw("ROLLBACK")
			s.failAll(batch, fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if err := s.execRaw("COMMIT"); err != nil {
		_ = s.execRaw("ROLLBACK")
		s.failAll(batch, fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	if s.opts.ObserveBatch != nil {
		s.opts.ObserveBatch(len(batch))
	}
	for _, r := range batch {
		r.done <- struct{}{}
	}
}

// call runs fn, turning a panic into an error so one bad request cannot kill the writer.
func (s *Store) call(fn func(chat.Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("write function panicked", slog.Any("panic", p))
			err = fmt.Errorf("sqlite: write function panicked: %v", p)
		}
	}()
	return fn(tx)
}

func (s *Store) failAll(batch []*writeReq, err error) {
	s.routes = nil
	s.log.Error("write batch failed", slog.Int("requests", len(batch)), slog.Any("error", err))
	for _, r := range batch {
		if r.err == nil {
			r.err = &chat.Error{Code: chat.CodeUnavailable, Message: "the database could not commit the write", Err: err}
		}
		r.done <- struct{}{}
	}
}

// stmt returns a prepared statement on the writer connection (writer goroutine only).
func (s *Store) stmt(q string) (*sql.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.conn.PrepareContext(s.wctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	s.stmts[q] = st
	return st, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// mapErr turns constraint violations into domain errors.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode() {
		case sqlite3.CONSTRAINT_PRIMARYKEY, sqlite3.CONSTRAINT_UNIQUE:
			return &chat.Error{Code: chat.CodeAlreadyExists, Message: what + " already exists", Err: err}
		case sqlite3.CONSTRAINT_FOREIGNKEY:
			return &chat.Error{Code: chat.CodeNotFound, Message: what + " refers to something that does not exist", Err: err}
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}
