package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// DBQuerier adapts a database/sql pool to Querier (the read side). Statements are
// prepared once per pool (database/sql re-prepares them per connection as needed), so hot
// queries are not parsed again on every call.
type DBQuerier struct {
	DB    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

// NewDBQuerier wraps db.
func NewDBQuerier(db *sql.DB) *DBQuerier {
	return &DBQuerier{DB: db, stmts: map[string]*sql.Stmt{}}
}

func (q *DBQuerier) stmt(ctx context.Context, s string) (*sql.Stmt, error) {
	q.mu.RLock()
	st, ok := q.stmts[s]
	q.mu.RUnlock()
	if ok {
		return st, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if st, ok := q.stmts[s]; ok {
		return st, nil
	}
	st, err := q.DB.PrepareContext(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	q.stmts[s] = st
	return st, nil
}

// Exec implements Querier.
func (q *DBQuerier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	res, err := q.DB.ExecContext(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryRow implements Querier.
func (q *DBQuerier) QueryRow(ctx context.Context, s string, args ...any) Row {
	st, err := q.stmt(ctx, s)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// Query implements Querier.
func (q *DBQuerier) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	st, err := q.stmt(ctx, s)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// Close closes the prepared statements (not the pool).
func (q *DBQuerier) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, st := range q.stmts {
		errs = append(errs, st.Close())
	}
	q.stmts = map[string]*sql.Stmt{}
	return errors.Join(errs...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// ConnWriter adapts one dedicated database/sql connection to WriterConn, preparing each
// statement once. It is used by a single writer goroutine.
type ConnWriter struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// NewConnWriter takes ownership of conn.
func NewConnWriter(conn *sql.Conn) *ConnWriter {
	return &ConnWriter{conn: conn, stmts: map[string]*sql.Stmt{}}
}

func (w *ConnWriter) stmt(ctx context.Context, s string) (*sql.Stmt, error) {
	if st, ok := w.stmts[s]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	w.stmts[s] = st
	return st, nil
}

// Exec implements Querier.
func (w *ConnWriter) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	st, err := w.stmt(ctx, s)
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
func (w *ConnWriter) QueryRow(ctx context.Context, s string, args ...any) Row {
	st, err := w.stmt(ctx, s)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// Query implements Querier.
func (w *ConnWriter) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	st, err := w.stmt(ctx, s)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// Close closes the prepared statements and returns the connection.
func (w *ConnWriter) Close() error {
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, w.conn.Close())
	return errors.Join(errs...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
