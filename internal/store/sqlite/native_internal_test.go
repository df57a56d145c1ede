package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/chathooks/chathooks/internal/chat"
)

// openNative opens a database file with one writer connection wrapped as the store wraps it.
func openNative(t *testing.T) *nativeWriter {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "n.db"), writerConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := newNativeWriter(conn)
	t.Cleanup(func() { w.Close() })
	return w
}

// vmSteps is the instruction count of the driver statement the writer holds for q (the
// test fails if q did not run on one).
func vmSteps(t *testing.T, w *nativeWriter, q string) int {
	t.Helper()
	var steps int
	if err := w.conn.Raw(func(any) error {
		st := w.stmts[q]
		if st == nil {
			t.Fatalf("%q did not run on a driver statement", q)
		}
		steps = st.Status(sqlite3.STMTSTATUS_VM_STEP, false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return steps
}

type label string // a named string type, as the domain's statuses are

// The writer's statements that return no rows run on the driver's own statements, and
// each run starts the statement's instruction count from zero, so a short statement never
// reaches the driver's progress handler (which yields the goroutine every 16th call).
func TestNativeWriterResetsEachStatementsCount(t *testing.T) {
	ctx := context.Background()
	w := openNative(t)
	if _, err := w.Exec(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, at TEXT)`); err != nil {
		t.Fatal(err)
	}
	const q = `INSERT INTO t (name, n) VALUES (?, ?)`
	for i := range 2000 {
		if n, err := w.Exec(ctx, q, label("x"), i); err != nil || n != 1 {
			t.Fatalf("insert %d: %d rows, %v", i, n, err)
		}
	}
	if steps := vmSteps(t, w, q); steps != 0 {
		t.Fatalf("the statement's instruction count is %d after 2,000 runs; want it reset after each", steps)
	}
	// Rows affected, a named type bound as text, and what bind does not take (a time)
	// going through database/sql.
	if n, err := w.Exec(ctx, `UPDATE t SET n = n + 1 WHERE name = ? AND n < 3`, label("x")); err != nil || n != 3 {
		t.Fatalf("update: %d rows, %v", n, err)
	}
	if n, err := w.Exec(ctx, `UPDATE t SET at = ? WHERE id = 1`, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 1 {
		t.Fatalf("update with a time: %d rows, %v", n, err)
	}
	// A driver.Valuer and a pointer are converted as database/sql converts them, and run
	// on a driver statement.
	two := int64(2)
	const setName = `UPDATE t SET at = ? WHERE id = ?`
	if n, err := w.Exec(ctx, setName, sql.NullString{String: "valued", Valid: true}, &two); err != nil || n != 1 {
		t.Fatalf("update with a Valuer and a pointer: %d rows, %v", n, err)
	}
	if vmSteps(t, w, setName) != 0 {
		t.Fatal("the update's instruction count was not reset")
	}
	var valued string
	if err := w.QueryRow(ctx, `SELECT at FROM t WHERE id = 2`).Scan(&valued); err != nil || valued != "valued" {
		t.Fatalf("read back: %q %v", valued, err)
	}
	var at string
	var n int
	if err := w.QueryRow(ctx, `SELECT at, (SELECT count(*) FROM t WHERE name = 'x') FROM t WHERE id = 1`).Scan(&at, &n); err != nil || at == "" || n != 2000 {
		t.Fatalf("read back: %q %d %v", at, n, err)
	}
	// A constraint error comes back as the driver's error, as through database/sql.
	if _, err := w.Exec(ctx, `INSERT INTO t (id, name) VALUES (?, ?)`, 1, "dup"); Dialect.Classify(err) != chat.CodeAlreadyExists {
		t.Fatalf("duplicate key: %v (class %q)", err, Dialect.Classify(err))
	}
}

// One-row reads run on the driver's statements too, with database/sql's conversions into
// each destination, its errors for NULL and for no row, and database/sql behind it for
// destinations they do not take.
func TestNativeWriterReadsOneRow(t *testing.T) {
	ctx := context.Background()
	w := openNative(t)
	if _, err := w.Exec(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, f REAL, b BLOB, v)`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(ctx, `INSERT INTO t VALUES (1, '42', 7, 1.5, x'00ff', NULL)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT name, n, f, b, v, n, name, n > 100 FROM t WHERE id = ?`
	for range 2000 {
		var (
			name    string
			n       int64
			f       float64
			b       []byte
			v       sql.NullString
			nText   string
			nameInt int
			flag    bool
		)
		if err := w.QueryRow(ctx, q, 1).Scan(&name, &n, &f, &b, &v, &nText, &nameInt, &flag); err != nil {
			t.Fatal(err)
		}
		if name != "42" || n != 7 || f != 1.5 || string(b) != "\x00\xff" || v.Valid || nText != "7" || nameInt != 42 || flag {
			t.Fatalf("got %q %d %v %x %+v %q %d %v", name, n, f, b, v, nText, nameInt, flag)
		}
	}
	if steps := vmSteps(t, w, q); steps != 0 {
		t.Fatalf("the read's instruction count is %d after 2,000 runs; want it reset after each", steps)
	}
	var s string
	if err := w.QueryRow(ctx, `SELECT v FROM t WHERE id = 1`).Scan(&s); err == nil {
		t.Fatal("NULL scanned into a string without an error")
	}
	if err := w.QueryRow(ctx, `SELECT name FROM t WHERE id = ?`, 2).Scan(&s); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no row: %v", err)
	}
	if err := w.QueryRow(ctx, `SELECT name, n FROM t WHERE id = 1`).Scan(&s); err == nil {
		t.Fatal("two columns scanned into one destination without an error")
	}
	// A destination the native path does not take: the statement runs once, through
	// database/sql.
	var small int32
	if err := w.QueryRow(ctx, `UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&small); err != nil || small != 8 {
		t.Fatalf("int32 through database/sql: %d, %v", small, err)
	}
	// A write that returns its row, and a constraint error from it.
	var n int64
	if err := w.QueryRow(ctx, `UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&n); err != nil || n != 9 {
		t.Fatalf("update returning: %d, %v", n, err)
	}
	if err := w.QueryRow(ctx, `INSERT INTO t (id) VALUES (1) RETURNING id`).Scan(&n); Dialect.Classify(err) != chat.CodeAlreadyExists {
		t.Fatalf("duplicate key: %v (class %q)", err, Dialect.Classify(err))
	}
}
