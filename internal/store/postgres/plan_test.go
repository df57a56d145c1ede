package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// TestStatementsPlannedForTheirTableSize: a statement that joins a list of values to a
// table, run the way the writers run the delivery outcomes (between IndexPlans and
// DefaultPlans), is planned as index lookups after its table has grown from nearly empty
// (with no ANALYZE in between). With PostgreSQL's defaults, the generic plan made from the
// empty table is a sequential scan hashed against the values, kept as the table grows.
func TestStatementsPlannedForTheirTableSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE d (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, owner TEXT NOT NULL)`)
	// The shape of the delivery outcomes: an UPDATE joined to a list of values.
	rows := make([]string, 64)
	args := make([]any, 0, 128)
	for i := range rows {
		rows[i] = fmt.Sprintf("(CAST($%d AS TEXT), CAST($%d AS TEXT))", 2*i+1, 2*i+2)
	}
	q := `UPDATE d SET status = 'done' FROM (VALUES ` + strings.Join(rows, ",") + `) AS v WHERE d.id = v.column1 AND d.owner = v.column2`
	if _, err := conn.Conn().Prepare(ctx, "outcomes", q); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		args = append(args, fmt.Sprintf("id-%d", i), "node")
	}
	exec(`INSERT INTO d (id, status, owner) SELECT 'id-' || g, 'pending', 'node' FROM generate_series(0, 9) g`)
	for range 10 { // past the five runs after which PostgreSQL may switch to a generic plan
		exec("BEGIN")
		exec(sqlstore.IndexPlans)
		exec("outcomes", args...)
		exec(sqlstore.DefaultPlans)
		exec("COMMIT")
	}
	exec(`INSERT INTO d (id, status, owner) SELECT 'id-' || g, 'pending', 'node' FROM generate_series(10, 99999) g`)
	exec("BEGIN")
	defer exec("ROLLBACK")
	exec(sqlstore.IndexPlans)
	plan := strings.Join(explain(t, conn, `EXPLAIN EXECUTE outcomes(`+strings.TrimSuffix(strings.Repeat("'id-5','node',", 64), ",")+`)`), "\n")
	if strings.Contains(plan, "Seq Scan on d") {
		t.Fatalf("the outcomes are joined to a sequential scan of the grown table:\n%s", plan)
	}
}

// TestDeliveryOutcomesPlannedWithIndexes: the store sends the outcomes' joined statements
// between IndexPlans and DefaultPlans (the test above shows what that does to their plans).
func TestDeliveryOutcomesPlannedWithIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{}, newRoundTrips)
	rs := leasedDeliveries(t, s, time.Now())
	rt.reset()
	if err := s.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	sent := rt.statements()
	on, joined, sets := false, 0, 0
	for _, q := range sent {
		switch {
		case q == sqlstore.IndexPlans:
			on = true
			sets++
		case q == sqlstore.DefaultPlans:
			on = false
		case strings.Contains(q, "(VALUES"):
			if !on {
				t.Fatalf("sent without IndexPlans: %.80s", q)
			}
			joined++
		}
	}
	if joined == 0 || on || sets != 1 {
		t.Fatalf("%d joined statements, %d plan changes (want 1), left changed %v: %q", joined, sets, on, sent)
	}
}

// TestRoomLimitPlannedWithIndexes: the shared room limiter's statement, cached and planned
// generically (as the driver's statement cache makes it after five runs), reads the buckets
// of the rooms it checks through the primary key instead of scanning every room's bucket.
func TestRoomLimitPlannedWithIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pgtest.Conn(t)
	for _, q := range []string{
		// A table of a thousand rooms, not analysed (as autovacuum may not have yet): a
		// scan then looks cheap beside a hash of the statement's rooms.
		`INSERT INTO room_rate (room_id, tokens, at) SELECT 'r' || g, 1, 0 FROM generate_series(1, 1250) g`,
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE take(text[], bigint[], float8, float8, bigint) AS ` + postgres.QTakeTokens,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	plan := strings.Join(explain(t, conn, `EXPLAIN EXECUTE take(ARRAY['r1', 'r2'], ARRAY[1, 1]::bigint[], 1, 1, 0)`), "\n")
	if strings.Contains(plan, "Seq Scan on room_rate") {
		t.Fatalf("the limiter's generic plan scans every room's bucket:\n%s", plan)
	}
	if !strings.Contains(plan, "room_rate_pkey") {
		t.Fatalf("the limiter's generic plan does not use the primary key:\n%s", plan)
	}
}

// explain runs an EXPLAIN statement and returns its plan, a line each.
func explain(t *testing.T, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, q string) []string {
	t.Helper()
	r, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	var plan []string
	for r.Next() {
		var line string
		if err := r.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestBatchStatementsPlannedWithKeys: a batch's set-based statements, cached and planned
// generically, look each row's room up by its key (and a room's newest event in
// events_room), whatever the number of rooms: the generic plan of a join to the rooms hashed
// a scan of every room for every batch.
func TestBatchStatementsPlannedWithKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pgtest.Conn(t)
	for _, q := range []string{
		// Rooms and events not analysed (as autovacuum may not have yet).
		`INSERT INTO rooms (id, name, created_at, updated_at) SELECT 'r' || g, 'R', 0, 0 FROM generate_series(1, 2000) g`,
		`INSERT INTO events (id, type, room_id, room_seq, created_at, payload)
			SELECT 'evt_' || g, 't', 'r' || (g % 2000 + 1), g / 2000 + 1, 0, '{}' FROM generate_series(0, 19999) g`,
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE events AS ` + postgres.Dialect.AppendRoomEvents,
		`PREPARE messages AS ` + postgres.Dialect.InsertMessages,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`EXPLAIN EXECUTE events(ARRAY['r1', 'r2'], ARRAY['evt_a', 'evt_b'], ARRAY['t', 't'], ARRAY[0, 0]::bigint[], ARRAY['{}', '{}'], ARRAY['', ''])`,
		`EXPLAIN EXECUTE messages(ARRAY['m'], ARRAY['r1'], ARRAY['m'], ARRAY['webhook'], ARRAY['w'], ARRAY['W'], ARRAY[''], ARRAY['x'], ARRAY['markdown'], ARRAY['<p>x</p>'], ARRAY['[]'], ARRAY[0]::bigint[], ARRAY[0]::bigint[])`,
	} {
		plan := strings.Join(explain(t, conn, q), "\n")
		if strings.Contains(plan, "Seq Scan") {
			t.Fatalf("%s\nscans a table:\n%s", q, plan)
		}
	}
}
