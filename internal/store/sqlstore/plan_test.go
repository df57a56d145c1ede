package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

var numbered = regexp.MustCompile(`\?(\d+)`)

// On SQLite (which keeps no index of leases) the statements that look for leased or
// claimable rows read the partial indexes of unfinished deliveries, never the whole table
// or an endpoint's whole history.
func TestLeaseAndClaimStatementsReadUnfinishedDeliveriesOnly(t *testing.T) {
	t.Parallel()
	forEachPlanStep(t, sqlstore.UnfinishedStatements, "x", func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN deliveries") && !strings.Contains(detail, "USING INDEX deliveries_first") &&
			!strings.Contains(detail, "USING INDEX deliveries_retry") || strings.Contains(detail, "deliveries_endpoint") {
			t.Errorf("%s\nreads %q", q, detail)
		}
	})
}

// forEachPlanStep plans each statement on a new SQLite database with the store's schema
// (EXPLAIN QUERY PLAN, every parameter arg) and calls check with each step of its plan.
func forEachPlanStep(t *testing.T, qs []string, arg any, check func(q, detail string)) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "chathooks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range qs {
		args := make([]any, params(q))
		for i := range args {
			args[i] = arg
		}
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
			check(q, detail)
		}
		rows.Close()
		if len(plan) == 0 {
			t.Errorf("%s: no plan", q)
		}
		t.Logf("%s\n  %s", q, strings.Join(plan, "\n  "))
	}
}

// params is how many parameters q takes: the highest ?N, or one a "?".
func params(q string) int {
	n := 0
	for _, m := range numbered.FindAllStringSubmatch(q, -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	if n == 0 {
		n = strings.Count(q, "?")
	}
	return n
}

// On SQLite a room's last event number (read with the room, and to number its next event)
// is a search of events_room for the room's newest entry, never a scan.
func TestRoomSeqStatementsSearchTheRoomsNewestEvent(t *testing.T) {
	t.Parallel()
	searched := map[string]bool{}
	forEachPlanStep(t, sqlstore.RoomSeqStatements, 1, func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN e ") || strings.HasPrefix(detail, "SCAN events") || strings.HasPrefix(detail, "SCAN rooms") {
			t.Errorf("%s\nreads %q", q, detail)
		}
		if strings.HasPrefix(detail, "SEARCH e USING COVERING INDEX events_room (room_id=?)") {
			searched[q] = true
		}
	})
	for _, q := range sqlstore.RoomSeqStatements {
		if !searched[q] {
			t.Errorf("%s\ndoes not search events_room for the room's newest event", q)
		}
	}
}

// On SQLite a room's events after a number (a stream's replay) are a search of events_room
// from that number, never a scan of every room's events.
func TestRoomEventsAfterSearchesTheRoomsEvents(t *testing.T) {
	t.Parallel()
	searched := false
	forEachPlanStep(t, []string{sqlstore.QRoomEventsAfter}, "r", func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN events") {
			t.Errorf("%s\nreads %q", q, detail)
		}
		if strings.HasPrefix(detail, "SEARCH events USING INDEX events_room (room_id=? AND room_seq>?)") {
			searched = true
		}
	})
	if !searched {
		t.Errorf("%s\ndoes not search events_room", sqlstore.QRoomEventsAfter)
	}
}

// On PostgreSQL too: the statement's generic plan (the one the driver's cached statement
// gets after five runs, whatever the room) reads events_room, not every event, with the
// tables grown and not analysed.
func TestRoomEventsAfterPlannedWithItsIndexOnPostgres(t *testing.T) {
	t.Parallel()
	plan := genericPlan(t, []string{
		`INSERT INTO rooms (id, name, created_at, updated_at) SELECT 'r' || g, 'R', 0, 0 FROM generate_series(1, 200) g`,
		`INSERT INTO events (id, type, room_id, room_seq, created_at, payload)
			SELECT 'evt_' || g, 't', 'r' || (g % 200 + 1), g / 200 + 1, 0, '{}' FROM generate_series(0, 19999) g`,
	}, sqlstore.QRoomEventsAfter, `'r5', 90, 100`)
	if strings.Contains(plan, "Seq Scan on events") || !strings.Contains(plan, "events_room") {
		t.Fatalf("a room's events after a number are not read through events_room:\n%s", plan)
	}
}

// A room's agent members are read through the room's members, each user by its key: on
// SQLite, and in PostgreSQL's generic plans over many users not analysed, never a scan of
// every user.
func TestAgentsReadThroughTheRoomsMembers(t *testing.T) {
	t.Parallel()
	forEachPlanStep(t, sqlstore.AgentStatements[:1], "r", func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN") {
			t.Errorf("%s\nreads %q", q, detail)
		}
	})
	for _, q := range sqlstore.AgentStatements {
		arg := `'r1'`
		if strings.Contains(q, "TEXT[]") {
			arg = `ARRAY['r1', 'r2']`
		}
		plan := genericPlan(t, []string{
			`INSERT INTO rooms (id, name, created_at, updated_at) SELECT 'r' || g, 'R', 0, 0 FROM generate_series(1, 500) g`,
			`INSERT INTO users (id, name, kind, created_at) SELECT 'u' || g, 'U', CASE WHEN g % 500 = 0 THEN 'agent' ELSE 'human' END, 0 FROM generate_series(1, 20000) g`,
			`INSERT INTO members (room_id, user_id, joined_at) SELECT 'r' || (g % 500 + 1), 'u' || g, 0 FROM generate_series(1, 20000) g`,
		}, q, arg)
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s\nscans:\n%s", q, plan)
		}
	}
}

// genericPlan returns PostgreSQL's generic plan of q (placeholders as the store writes
// them) for args, on a new schema the store migrated and then filled by fill, not analysed
// (as autovacuum may not have yet).
func genericPlan(t *testing.T, fill []string, q, args string) string {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Conn(t)
	for _, f := range append(fill, `SET plan_cache_mode = force_generic_plan`, `PREPARE q AS `+sqlstore.Numbered(q)) {
		if _, err := conn.Exec(ctx, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	r, err := conn.Query(ctx, `EXPLAIN EXECUTE q(`+args+`)`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
