package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// The statements of a retention step, planned once for good (a generic plan) while the
// tables are empty and with sequential scans priced out as the store sends them, read
// deliveries, attempts, events and rooms through their indexes only: they stay cheap however
// large the tables grow.
func TestRetentionStatementsReadNoWholeTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pgtest.Conn(t)
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("BEGIN")
	defer exec("ROLLBACK")
	exec("SET LOCAL plan_cache_mode = force_generic_plan")
	exec(sqlstore.IndexPlans)
	dollar := regexp.MustCompile(`\?(\d+)`)
	scan := regexp.MustCompile(`(Index Scan|Index Only Scan)( Backward)? using (\w+) on (\w+)`)
	for i, q := range sqlstore.RetentionStatements {
		q = dollar.ReplaceAllString(q, "$$$1")
		events := strings.Contains(q, "DELETE FROM events")
		if events { // as the store sends it
			exec(sqlstore.HashJoins)
		}
		exec(fmt.Sprintf("PREPARE retention%d AS %s", i, q))
		if events {
			exec(sqlstore.DefaultJoins)
		}
		args := strings.TrimSuffix(strings.Repeat("1,", strings.Count(q, "$3")+2), ",")
		if !strings.Contains(q, "$3") {
			args = "1,1"
		}
		plan := explain(t, conn, fmt.Sprintf("EXPLAIN EXECUTE retention%d(%s)", i, args))
		// No sequential scan, and every index scan is bounded by a condition, except the
		// partial indexes of the unfinished deliveries, read whole on purpose.
		for j, line := range plan {
			if strings.Contains(line, "Seq Scan") {
				t.Errorf("%s\nreads a whole table: %s", q, line)
			}
			m := scan.FindStringSubmatch(line)
			if m == nil || m[3] == "deliveries_first" || m[3] == "deliveries_retry" {
				continue
			}
			if j+1 >= len(plan) || !strings.Contains(plan[j+1], "Index Cond") {
				t.Errorf("%s\nreads a whole index: %s", q, line)
			}
		}
		t.Logf("%s\n%s", q, strings.Join(plan, "\n"))
	}
}

// A retention step sends its statements between IndexPlans and DefaultPlans, and leaves
// the plan settings as it found them for the rest of the batch.
func TestRetentionStepsPlannedWithIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now()
	rs := leasedDeliveries(t, s, now.Add(-time.Hour))
	if err := s.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	rt.reset()
	var d, e chat.PruneStep
	if err := s.Write(ctx, func(tx chat.Tx) error {
		var err error
		if d, err = tx.PruneDeliveries(now, 0, 100); err != nil {
			return err
		}
		e, err = tx.PruneEvents(now, 0, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// d1 goes; d2 and the event are the newest of their tables.
	if d.Deleted != 1 || !d.Done || e.Deleted != 0 || !e.Done {
		t.Fatalf("steps: %+v %+v", d, e)
	}
	for _, trip := range rt.trips() {
		t.Logf("round trip: %.160s", strings.Join(strings.Fields(trip), " "))
	}
	on, hashed, planned, sets := false, false, 0, 0
	for _, q := range rt.statements() {
		switch {
		case q == sqlstore.IndexPlans:
			on = true
			sets++
		case q == sqlstore.DefaultPlans:
			on = false
		case q == sqlstore.HashJoins:
			hashed = true
		case q == sqlstore.DefaultJoins:
			hashed = false
		case strings.Contains(q, "DELETE FROM") || strings.Contains(q, "COUNT(*)"):
			if !on {
				t.Fatalf("sent without IndexPlans: %.80s", q)
			}
			if strings.Contains(q, "DELETE FROM events") != hashed {
				t.Fatalf("sent with enable_nestloop %v: %.80s", !hashed, q)
			}
			planned++
		}
	}
	if planned != 5 || on || hashed || sets != 2 {
		t.Fatalf("%d retention statements (want 5), %d plan changes (want 2), left changed %v %v: %q", planned, sets, on, hashed, rt.statements())
	}
}
