package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
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
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO rooms (id, name, created_at, updated_at) SELECT 'r' || g, 'R', 0, 0 FROM generate_series(1, 200) g`,
		`INSERT INTO events (id, type, room_id, room_seq, created_at, payload)
			SELECT 'evt_' || g, 't', 'r' || (g % 200 + 1), g / 200 + 1, 0, '{}' FROM generate_series(0, 19999) g`,
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE after(text, bigint, bigint) AS ` + sqlstore.Numbered(sqlstore.QRoomEventsAfter),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r, err := conn.Query(ctx, `EXPLAIN EXECUTE after('r5', 90, 100)`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan on events") || !strings.Contains(text, "events_room") {
		t.Fatalf("a room's events after a number are not read through events_room:\n%s", text)
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
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO rooms (id, name, created_at, updated_at) SELECT 'r' || g, 'R', 0, 0 FROM generate_series(1, 500) g`,
		`INSERT INTO users (id, name, kind, created_at) SELECT 'u' || g, 'U', CASE WHEN g % 500 = 0 THEN 'agent' ELSE 'human' END, 0 FROM generate_series(1, 20000) g`,
		`INSERT INTO members (room_id, user_id, joined_at) SELECT 'r' || (g % 500 + 1), 'u' || g, 0 FROM generate_series(1, 20000) g`,
		`SET plan_cache_mode = force_generic_plan`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, q := range sqlstore.AgentStatements {
		name := fmt.Sprintf("agents%d", i)
		if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+sqlstore.Numbered(q)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		arg := `'r1'`
		if strings.Contains(q, "TEXT[]") {
			arg = `ARRAY['r1', 'r2']`
		}
		r, err := conn.Query(ctx, `EXPLAIN EXECUTE `+name+`(`+arg+`)`)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") {
			t.Errorf("%s\nscans:\n%s", q, text)
		}
	}
}
