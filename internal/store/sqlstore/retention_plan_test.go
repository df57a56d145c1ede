package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// On SQLite every statement of a retention step reads deliveries, attempts, events and
// rooms through a key (a primary-key range, an index, or the partial indexes of the
// unfinished deliveries), never a whole table.
func TestRetentionStatementsReadNoWholeTable(t *testing.T) {
	t.Parallel()
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
	for _, q := range sqlstore.RetentionStatements {
		args := make([]any, params(q))
		for i := range args {
			args[i] = 1
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
			for _, table := range []string{"deliveries", "delivery_attempts", "events", "rooms"} {
				if !strings.HasPrefix(detail, "SCAN "+table) {
					continue
				}
				if table == "deliveries" && (strings.Contains(detail, "USING INDEX deliveries_first") || strings.Contains(detail, "USING INDEX deliveries_retry")) {
					continue // the unfinished deliveries, read through their partial indexes
				}
				t.Errorf("%s\nreads %q", q, detail)
			}
		}
		rows.Close()
		if len(plan) == 0 {
			t.Errorf("%s: no plan", q)
		}
		t.Logf("%s\n  %s", q, strings.Join(plan, "\n  "))
	}
}
