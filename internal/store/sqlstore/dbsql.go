package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// stmtCache runs statements through database/sql, preparing each statement text once, so
// hot queries are not parsed again on every call.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
}

func (c *stmtCache) stmt(ctx context.Context, s string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.stmts[s]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[s]; ok {
		return st, nil
	}
	st, err := c.prepare(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.stmts[s] = st
	return st, nil
}

// Exec implements Querier.
func (c *stmtCache) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	st, err := c.stmt(ctx, s)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryRow implements Querier.
func (c *stmtCache) QueryRow(ctx context.Context, s string, args ...any) Row {
	st, err := c.stmt(ctx, s)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// Query implements Querier.
func (c *stmtCache) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	st, err := c.stmt(ctx, s)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c *stmtCache) closeStmts() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = map[string]*sql.Stmt{}
	return errors.Join(errs...)
}

// DBQuerier adapts a database/sql pool to Querier (the read side); database/sql prepares
// each cached statement on each pool connection as needed.
type DBQuerier struct{ stmtCache }

// NewDBQuerier wraps db.
func NewDBQuerier(db *sql.DB) *DBQuerier {
	return &DBQuerier{stmtCache{prepare: db.PrepareContext, stmts: map[string]*sql.Stmt{}}}
}

// Close closes the prepared statements (not the pool).
func (q *DBQuerier) Close() error { return q.closeStmts() }

// ConnWriter adapts one dedicated database/sql connection to WriterConn.
type ConnWriter struct {
	stmtCache
	conn *sql.Conn
}

// NewConnWriter takes ownership of conn.
func NewConnWriter(conn *sql.Conn) *ConnWriter {
	return &ConnWriter{stmtCache: stmtCache{prepare: conn.PrepareContext, stmts: map[string]*sql.Stmt{}}, conn: conn}
}

// Close closes the prepared statements and returns the connection.
func (w *ConnWriter) Close() error { return errors.Join(w.closeStmts(), w.conn.Close()) }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
