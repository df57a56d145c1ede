package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// nativeWriter is the writer's connection. Statements that return no rows (the inserts and
// updates of every batch, BEGIN and COMMIT) run on the driver's own prepared statements;
// reads go through database/sql.
//
// Why: the driver gives every connection a progress handler that runs every 1,000 SQLite
// VM instructions of a statement, counted over all its executions, and every 16th call
// yields the goroutine (runtime.Gosched). With the cores saturated each yield left the
// writer a millisecond or more at the back of the run queue — most of the time it waited
// for a CPU. Resetting a statement's instruction count after each execution keeps a
// statement of fewer than 1,000 instructions (an outcome's, a post's to a dozen endpoints)
// from ever reaching the handler. database/sql's prepared statements cannot be reached to
// reset them, so these run here; they also skip database/sql's argument conversion.
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
	ran := false
	err := w.conn.Raw(func(dc any) error {
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
		err := st.Exec()
		st.Status(sqlite3.STMTSTATUS_VM_STEP, true) // see the type's comment
		if cerr := st.ClearBindings(); err == nil {
			err = cerr
		}
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

// bind binds args to st's parameters 1..n as database/sql would convert them (named types
// by their kind); false if one is of another kind (a time, a driver.Valuer, a pointer):
// then database/sql runs the statement.
func bind(st *sqlite3.Stmt, args []any) bool {
	for i, a := range args {
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
		case driver.Valuer:
			return false
		default:
			rv := reflect.ValueOf(a)
			switch rv.Kind() {
			case reflect.String:
				err = st.BindText(id, rv.String())
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				err = st.BindInt64(id, rv.Int())
			case reflect.Bool:
				err = st.BindBool(id, rv.Bool())
			case reflect.Float32, reflect.Float64:
				err = st.BindFloat(id, rv.Float())
			default:
				return false
			}
		}
		if err != nil {
			return false
		}
	}
	return true
}
