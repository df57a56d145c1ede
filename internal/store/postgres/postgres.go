// Package postgres is the PostgreSQL storage (pgx v5), selected by --database-url. Any
// number of chathooks nodes may share one database. It runs the shared sqlstore engine
// with several group-commit writers, each owning one connection.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/migrate"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tune the store.
type Options struct {
	sqlstore.Options
	// Writers is the number of group-commit writer connections (default 1). Batches commit
	// one at a time cluster-wide (the batch lock), and a batch costs about the same however
	// many posts it holds, so one writer per node, whose batch gathers everything that
	// arrived while the previous one committed, beats two that split it (measured on two
	// cores with PostgreSQL beside, one run each: one node 3,172 posts/s with one writer
	// against 3,029 with two; two nodes 3,053 against 2,219).
	Writers int
	// ReadConns is the size of the read pool (default 8).
	ReadConns int

	wrapWriter func(sqlstore.WriterConn) sqlstore.WriterConn // tests: wraps each writer connection
}

// migrationLock is the advisory lock key serializing migrations across nodes.
const migrationLock = 0x63686174686f6f6b // "chathook"

// Dialect is PostgreSQL's.
var Dialect = &sqlstore.Dialect{
	Name:               "postgres",
	Begin:              "BEGIN",
	BatchLock:          "SELECT pg_advisory_xact_lock(6867636862617463)", // "chbatch"
	BatchGuard:         "SELECT chathooks_batch_guard(?, ?, ?)",          // migrations 0013, 0016
	ThreadVersion:      "SELECT n FROM thread_cache_version WHERE id = 1",
	ThreadVersionEnd:   "SELECT n, CASE WHEN xid = txid_current() THEN 1 ELSE 0 END FROM thread_cache_version WHERE id = 1",
	DollarPlaceholders: true,
	Classify: func(err error) chat.Code {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch pe.Code {
			case "23505":
				return chat.CodeAlreadyExists
			case "23503":
				return chat.CodeNotFound
			case "23502":
				// A room event's append takes the room's id from a lookup that gives NULL
				// for a missing room (an outer join in the single append, a subquery in
				// the set-based one), so that a missing room fails the statement, and the
				// transaction, on events.room_id. Any other NULL refused is a fault.
				if pe.TableName == "events" && pe.ColumnName == "room_id" {
					return chat.CodeNotFound
				}
			case "22021", "22P05": // invalid byte sequence (a NUL in text), untranslatable character
				return chat.CodeInvalidArgument
			}
			if lostConnection(pe) {
				return chat.CodeUnavailable
			}
		}
		if connectionError(err) {
			return chat.CodeUnavailable
		}
		return ""
	},
	NoRows: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
	// A batch of posts sends its messages and its room events as one statement each: the
	// database parses, plans and executes one statement for all the batch's rows of a
	// table instead of one a row. A room's events number one past the room's newest event
	// before the statement, in their order (the statement does not see its own rows); a
	// missing room leaves room_id NULL, which fails the statement, as it fails the single
	// append. The room is looked up row by row, by its key: a join would let a plan made
	// while the rooms were few (the driver's cached statement keeps its generic plan)
	// scan every room for every batch as they grow.
	InsertMessages: `INSERT INTO messages (id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, relay_hops)
	SELECT id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, relay_hops
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])
		WITH ORDINALITY AS m(id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, relay_hops, ord)
	ORDER BY ord`,
	AppendRoomEvents: `INSERT INTO events (id, type, room_id, room_seq, created_at, payload, agents)
	SELECT e.id, e.type, (SELECT r.id FROM rooms r WHERE r.id = e.room_id),
		COALESCE((SELECT MAX(x.room_seq) FROM events x WHERE x.room_id = e.room_id AND x.room_id <> ''), 0)
			+ row_number() OVER (PARTITION BY e.room_id ORDER BY e.ord),
		e.created_at, e.payload, e.agents
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
		WITH ORDINALITY AS e(room_id, id, type, created_at, payload, agents, ord)
	ORDER BY e.ord
	RETURNING id, room_seq`,
	UpsertThreadKeys: `INSERT INTO thread_keys (room_id, key, thread_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
	ON CONFLICT (room_id, key) DO UPDATE SET thread_id = excluded.thread_id`,
	InsertThreadKeys: `INSERT INTO thread_keys (room_id, key, thread_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
	NotifyChannel:    NotifyChannel,
	SkipLocked:       " FOR UPDATE SKIP LOCKED",
	// Per active endpoint, the first entry of deliveries_lease_end in order: a walk that
	// stops at the endpoint's first live leased row (and marks the dead entries it passes,
	// so the next call skips them).
	NextLeaseEnd: `SELECT MIN((SELECT d.locked_until FROM deliveries d
		WHERE d.endpoint_id = e.id AND d.lease_owner <> '' AND d.status IN ('pending', 'failed')
		ORDER BY d.locked_until LIMIT 1)) FROM endpoints e WHERE e.status = 'active'`,
	RoundTrips: true,
	Retryable: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
	},
}

// Pool opens a connection pool for helpers that run beside the store (the room rate
// limiter); close it after use.
func Pool(ctx context.Context, url string, maxConns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	cfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool, nil
}

// Open connects, applies migrations (serialized across nodes by an advisory lock) and
// starts the writers.
func Open(ctx context.Context, url string, o Options) (*sqlstore.Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 8
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	cfg.MaxConns = int32(o.Writers + o.ReadConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := applyMigrations(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	writers := make([]sqlstore.WriterConn, 0, o.Writers)
	for range o.Writers {
		w := &writerConn{pool: pool, log: o.Logger}
		if err := w.acquire(ctx); err != nil {
			for _, w := range writers {
				w.Close()
			}
			pool.Close()
			return nil, fmt.Errorf("postgres: writer connection: %w", err)
		}
		var wc sqlstore.WriterConn = w
		if o.wrapWriter != nil {
			wc = o.wrapWriter(w)
		}
		writers = append(writers, wc)
	}
	return sqlstore.New(Dialect, querier{pool}, writers, func() error { pool.Close(); return nil }, o.Options), nil
}

func applyMigrations(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migration connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)) //nolint:errcheck
	if err := migrate.Up(ctx, conn, ms, func(n int) string { return fmt.Sprintf("$%d", n) }); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// pgxQuerier is what pgxpool.Pool and pgxpool.Conn have in common.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type querier struct{ q pgxQuerier }

func (q querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, sql, args...)
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return q.q.Query(ctx, sql, args...)
}

// writerConn is the connection of one group-commit writer. The server may drop it at any
// time (restart, failover, pg_terminate_backend, a network cut); a dropped connection is
// replaced by a fresh one from the pool, but only at the BEGIN of the next transaction:
// statements of a transaction whose connection died fail (the batch is answered
// "unavailable" and nothing of it committed) rather than run outside it on a new
// connection. Only the owning writer goroutine calls its methods, so c needs no lock.
type writerConn struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	c    *pgxpool.Conn // nil after the connection was lost, until the next BEGIN
}

// acquireTimeout bounds taking a fresh writer connection while the server is away.
const acquireTimeout = 5 * time.Second

// errConnLost answers the statements of a transaction whose connection died.
var errConnLost = errors.New("postgres: writer connection lost (the transaction was rolled back by the server)")

// acquire takes a connection from the pool. After a loss the pool's idle connections may
// be dead too (a server restart drops them all), so each is pinged first and dead ones are
// destroyed, until a live one comes or the pool has been gone through.
func (w *writerConn) acquire(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, acquireTimeout)
	defer cancel()
	var err error
	for range w.pool.Config().MaxConns + 1 {
		var c *pgxpool.Conn
		c, err = w.pool.Acquire(ctx)
		if err != nil {
			break
		}
		if err = c.Ping(ctx); err == nil {
			w.c = c
			return nil
		}
		_ = c.Conn().Close(ctx)
		c.Release()
	}
	return fmt.Errorf("postgres: writer connection: %w", err)
}

// connLost reports whether err means the connection is gone: closed by the driver, or a
// FATAL from the server (administrator shutdown, crash shutdown, terminated backend), after
// which the server closes it.
func connLost(c *pgxpool.Conn, err error) bool {
	if err == nil {
		return false
	}
	if c.Conn().IsClosed() {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && lostConnection(pe)
}

// connectionError reports whether err is the connection failing rather than the statement:
// a closed or lost connection, a network error, or a connection timing out.
func connectionError(err error) bool {
	var ne net.Error
	return errors.Is(err, errConnLost) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne) || pgconn.Timeout(err)
}

// lostConnection reports whether the server's error ends the connection: a FATAL or PANIC
// (administrator shutdown, crash shutdown, terminated backend) or a connection exception.
func lostConnection(pe *pgconn.PgError) bool {
	return pe.Severity == "FATAL" || pe.Severity == "PANIC" || strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
}

// dropIfClosed gives up the connection if err says it is gone, so the next BEGIN replaces it.
func (w *writerConn) dropIfClosed(err error) {
	if w.c == nil || !connLost(w.c, err) {
		return
	}
	w.log.Warn("postgres writer connection lost; the next transaction reconnects", slog.Any("error", err))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = w.c.Conn().Close(ctx)
	cancel()
	w.c.Release() // the pool destroys a closed connection instead of reusing it
	w.c = nil
}

// Exec implements sqlstore.Querier. A transaction's first statement (BEGIN, possibly sent
// together with the batch lock) (re)connects: on a lost connection, and once more when it
// finds the connection dead (nothing was done on it, so retrying it on a fresh one is always
// safe).
func (w *writerConn) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if strings.HasPrefix(sql, Dialect.Begin) && len(args) == 0 {
		var n int64
		err := w.opening(ctx, func() error {
			tag, err := w.c.Exec(ctx, sql)
			n = tag.RowsAffected()
			return err
		})
		return n, err
	}
	if w.c == nil {
		return 0, errConnLost
	}
	tag, err := w.c.Exec(ctx, sql, args...)
	w.dropIfClosed(err)
	return tag.RowsAffected(), err
}

// opening runs a transaction's first text with run, (re)connecting first if the connection
// was lost, and once more on a fresh connection if it finds this one dead.
func (w *writerConn) opening(ctx context.Context, run func() error) error {
	if w.c == nil {
		if err := w.acquire(ctx); err != nil {
			return err
		}
	}
	err := run()
	if connLost(w.c, err) {
		w.dropIfClosed(err)
		if err := w.acquire(ctx); err != nil {
			return err
		}
		err = run()
		w.dropIfClosed(err)
	}
	return err
}

// BeginRead implements sqlstore.BeginReader: the text (BEGIN, the batch lock, then one
// SELECT of a row of integers) goes in one round trip, on the simple protocol, and the row
// comes back.
func (w *writerConn) BeginRead(ctx context.Context, text string) ([]int64, error) {
	var row []int64
	err := w.opening(ctx, func() error {
		rs, err := w.c.Conn().PgConn().Exec(ctx, text).ReadAll()
		if err != nil {
			return err
		}
		if len(rs) == 0 || len(rs[len(rs)-1].Rows) != 1 {
			return fmt.Errorf("postgres: %q returned no single row", text)
		}
		row = row[:0]
		for _, v := range rs[len(rs)-1].Rows[0] {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("postgres: %q: %w", text, err)
			}
			row = append(row, n)
		}
		return nil
	})
	return row, err
}

// QueryRow implements sqlstore.Querier.
func (w *writerConn) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	if w.c == nil {
		return errRow{errConnLost}
	}
	return watchedRow{w, w.c.QueryRow(ctx, sql, args...)}
}

// Query implements sqlstore.Querier.
func (w *writerConn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	if w.c == nil {
		return nil, errConnLost
	}
	rows, err := w.c.Query(ctx, sql, args...)
	w.dropIfClosed(err)
	return rows, err
}

// Close returns the connection to the pool.
func (w *writerConn) Close() error {
	if w.c != nil {
		w.c.Release()
		w.c = nil
	}
	return nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// watchedRow drops the writer's connection if scanning found it dead.
type watchedRow struct {
	w   *writerConn
	row pgx.Row
}

func (r watchedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.w.dropIfClosed(err)
	return err
}

// Pipeline implements sqlstore.Pipeliner with one pgx.Batch. A pipeline that begins a
// transaction (re)connects first, as Exec's BEGIN does, and is sent once more on a fresh
// connection only when none of it can have run: the driver sent nothing, or the server's
// first answer ended the connection (its answers come in order, so BEGIN never ran, nor
// the COMMIT the pipeline may end with).
func (w *writerConn) Pipeline(ctx context.Context, stmts []sqlstore.Stmt, scan func(sqlstore.Row) error) (n int64, failed int, err error) {
	if len(stmts) == 0 || stmts[0].SQL != Dialect.Begin || len(stmts[0].Args) != 0 {
		if w.c == nil {
			return 0, 0, errConnLost
		}
		n, failed, err = w.pipeline(ctx, stmts, scan)
		w.dropIfClosed(err)
		return n, failed, err
	}
	if w.c == nil || w.c.Conn().IsClosed() {
		w.dropIfClosed(errConnLost)
		if err := w.acquire(ctx); err != nil {
			return 0, 0, err
		}
	}
	n, failed, err = w.pipeline(ctx, stmts, scan)
	if err != nil && failed == 0 && nothingRan(err) {
		w.dropIfClosed(err)
		if w.c == nil {
			if err := w.acquire(ctx); err != nil {
				return 0, 0, err
			}
		}
		n, failed, err = w.pipeline(ctx, stmts, scan)
	}
	w.dropIfClosed(err)
	return n, failed, err
}

// nothingRan reports whether err, the failure of a pipeline's first statement, says that
// no statement of it ran: the driver sent nothing, or the server answered with the end of
// the connection.
func nothingRan(err error) bool {
	var pe *pgconn.PgError
	return pgconn.SafeToRetry(err) || errors.As(err, &pe) && lostConnection(pe)
}

func (w *writerConn) pipeline(ctx context.Context, stmts []sqlstore.Stmt, scan func(sqlstore.Row) error) (n int64, failed int, err error) {
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	br := w.c.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			n, failed, err = 0, len(stmts)-1, cerr
		}
	}()
	last := len(stmts) - 1
	for i := 0; i < last; i++ {
		if err := read(br, stmts[i]); err != nil {
			return 0, i, err
		}
	}
	switch {
	case scan != nil:
		return 0, last, scan(br.QueryRow())
	case stmts[last].Scan != nil || stmts[last].Rows != nil:
		return 0, last, read(br, stmts[last])
	}
	tag, err := br.Exec()
	return tag.RowsAffected(), last, err
}

// read reads the next result of br as st expects it: its row, its rows, or none.
func read(br pgx.BatchResults, st sqlstore.Stmt) error {
	switch {
	case st.Scan != nil:
		return st.Scan(br.QueryRow())
	case st.Rows != nil:
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := st.Rows(rows); err != nil {
			return err
		}
		return rows.Err()
	}
	_, err := br.Exec()
	return err
}

// SharedSetting returns the value of a settings key, storing value first if the key has
// none: every node that calls it gets the same value.
func SharedSetting(ctx context.Context, pool *pgxpool.Pool, key, value string) (string, error) {
	if _, err := pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", fmt.Errorf("postgres: store setting %s: %w", key, err)
	}
	var v string
	if err := pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: read setting %s: %w", key, err)
	}
	return v, nil
}
