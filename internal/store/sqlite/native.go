package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// nativeWriter is the writer's connection. Statements that return no rows (the inserts and
// updates of every batch, BEGIN and COMMIT) and reads of one row run on the driver's own
// prepared statements; reads of several rows go through database/sql.
//
// Why: the driver gives every connection a progress handler that runs every 1,000 SQLite
// VM instructions of a statement, counted over all its executions, and every 16th call
// yields the goroutine (runtime.Gosched). With the cores saturated each yield left the
// writer a millisecond or more at the back of the run queue — most of the time it waited
// for a CPU. Resetting a statement's instruction count after each execution keeps a
// statement of fewer than 1,000 instructions (an outcome's, a post's to a dozen endpoints)
// from ever reaching the handler. database/sql's prepared statements cannot be reached to
// reset them, so these run here; they also skip database/sql's argument conversion and
// its per-query bookkeeping.
//
// Only the writer goroutine uses it (stmts is not guarded).
type nativeWriter struct {
	*sqlstore.ConnWriter
	conn  *sql.Conn
	stmts map[string]*sqlite3.Stmt
}

func newNativeWriter(conn *sql.Conn) *nativeWriter {
	return &nativeWriter{ConnWriter: sqlstore.NewConnWriter(conn), conn: conn, stmts: map[string]*sqlite3.Stmt{}}
}

// Exec runs q with args on the driver's statement for q, or through database/sql when an
// argument is of a kind bind does not take (or q holds several statements, which
// database/sql refuses as before).
func (w *nativeWriter) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	ran, err := w.run(ctx, q, args, func(c *sqlite3.Conn, st *sqlite3.Stmt) error {
		err := st.Exec()
		n = c.Changes()
		return err
	})
	if err != nil {
		return 0, err
	}
	if !ran {
		return w.ConnWriter.Exec(ctx, q, args...)
	}
	return n, nil
}

// QueryRow returns q's first row, read on the driver's statement for q when Scan is
// called (database/sql's QueryRow runs the statement at once; the writer's callers always
// scan). Destinations other than those assign takes, and arguments bind does not take,
// send the statement through database/sql instead, before it runs.
func (w *nativeWriter) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return nativeRow{w: w, ctx: ctx, q: q, args: args}
}

type nativeRow struct {
	w    *nativeWriter
	ctx  context.Context
	q    string
	args []any
}

func (r nativeRow) Scan(dest ...any) error {
	for _, d := range dest {
		if !assignable(d) {
			return r.w.ConnWriter.QueryRow(r.ctx, r.q, r.args...).Scan(dest...)
		}
	}
	ran, err := r.w.run(r.ctx, r.q, r.args, func(_ *sqlite3.Conn, st *sqlite3.Stmt) error {
		if !st.Step() {
			if err := st.Err(); err != nil {
				return err
			}
			return sql.ErrNoRows
		}
		if n := st.ColumnCount(); n != len(dest) {
			return fmt.Errorf("sql: expected %d destination arguments in Scan, not %d", n, len(dest))
		}
		for i, d := range dest {
			if err := assign(d, columnValue(st, i)); err != nil {
				return fmt.Errorf("sql: Scan error on column index %d, name %q: %w", i, st.ColumnName(i), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !ran {
		return r.w.ConnWriter.QueryRow(r.ctx, r.q, r.args...).Scan(dest...)
	}
	return nil
}

// run binds args to the driver's statement for q (prepared on first use) and calls do
// with it, then resets the statement, its instruction count (see the type's comment) and
// its bindings. ran is false, with nothing run, when an argument is of a kind bind does
// not take or q holds several statements: the caller then goes through database/sql.
func (w *nativeWriter) run(ctx context.Context, q string, args []any, do func(*sqlite3.Conn, *sqlite3.Stmt) error) (ran bool, err error) {
	err = w.conn.Raw(func(dc any) error {
		rc, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return nil
		}
		c := rc.Raw()
		st := w.stmts[q]
		if st == nil {
			s, tail, err := c.Prepare(q)
			if err != nil {
				return err
			}
			if strings.TrimSpace(tail) != "" {
				return errors.Join(s.Close()) // several statements: database/sql runs them
			}
			w.stmts[q] = s
			st = s
		}
		if !bind(st, args) {
			return st.ClearBindings()
		}
		if old := c.SetInterrupt(ctx); old != ctx {
			defer c.SetInterrupt(old)
		}
		ran = true
		err := do(c, st)
		if rerr := st.Reset(); err == nil {
			err = rerr
		}
		st.Status(sqlite3.STMTSTATUS_VM_STEP, true) // see the type's comment
		if cerr := st.ClearBindings(); err == nil {
			err = cerr
		}
		return err
	})
	return ran, err
}

// columnValue is column i of st's current row as the driver hands it to database/sql:
// int64, float64, string, []byte or nil.
func columnValue(st *sqlite3.Stmt, i int) any {
	switch st.ColumnType(i) {
	case sqlite3.INTEGER:
		return st.ColumnInt64(i)
	case sqlite3.FLOAT:
		return st.ColumnFloat(i)
	case sqlite3.TEXT:
		return st.ColumnText(i)
	case sqlite3.BLOB:
		return st.ColumnBlob(i, nil)
	default:
		return nil
	}
}

// assignable reports whether assign takes dest.
func assignable(dest any) bool {
	switch dest.(type) {
	case sql.Scanner, *any, *[]byte, *string, *int64, *int, *bool, *float64:
		return true
	}
	return false
}

// assign stores v in dest with database/sql's conversions (through sql.Null's Scan,
// which applies them), and its refusal to put NULL where no NULL fits.
func assign(dest, v any) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *any:
		*d = v
		return nil
	case *[]byte:
		if v == nil {
			*d = nil
			return nil
		}
		return assignNotNull(d, v)
	case *string:
		return assignNotNull(d, v)
	case *int64:
		return assignNotNull(d, v)
	case *int:
		return assignNotNull(d, v)
	case *bool:
		return assignNotNull(d, v)
	case *float64:
		return assignNotNull(d, v)
	}
	return fmt.Errorf("unsupported Scan, storing driver.Value type %T into type %T", v, dest)
}

func assignNotNull[T any](d *T, v any) error {
	var n sql.Null[T]
	if err := n.Scan(v); err != nil {
		return err
	}
	if !n.Valid {
		return fmt.Errorf("converting NULL to %T is unsupported", *d)
	}
	*d = n.V
	return nil
}

// Close closes the driver's statements, then the database/sql side and the connection.
func (w *nativeWriter) Close() error {
	err := w.conn.Raw(func(any) error {
		var errs []error
		for _, st := range w.stmts {
			errs = append(errs, st.Close())
		}
		w.stmts = map[string]*sqlite3.Stmt{}
		return errors.Join(errs...)
	})
	return errors.Join(err, w.ConnWriter.Close())
}

// bind binds args to st's parameters 1..n as database/sql would: the driver takes the base
// types as they are and leaves every other kind to database/sql's default converter (named
// types by their kind, pointers dereferenced, driver.Valuers asked for their value), used
// here too. false if a value is still of another type (a time, which the driver encodes
// its own way) or cannot be converted: then database/sql runs the statement.
func bind(st *sqlite3.Stmt, args []any) bool {
	for i, a := range args {
		switch a.(type) {
		case nil, string, int64, int, bool, float64, []byte:
		default:
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return false
			}
			a = v
		}
		id := i + 1
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(id)
		case string:
			err = st.BindText(id, v)
		case int64:
			err = st.BindInt64(id, v)
		case int:
			err = st.BindInt64(id, int64(v))
		case bool:
			err = st.BindBool(id, v)
		case float64:
			err = st.BindFloat(id, v)
		case []byte:
			err = st.BindBlob(id, v)
		default:
			return false
		}
		if err != nil {
			return false
		}
	}
	return true
}
