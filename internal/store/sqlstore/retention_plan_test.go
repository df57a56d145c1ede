package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// On SQLite every statement of a retention step reads deliveries, attempts, events and
// rooms through a key (a primary-key range, an index, or the partial indexes of the
// unfinished deliveries), never a whole table.
func TestRetentionStatementsReadNoWholeTable(t *testing.T) {
	t.Parallel()
	forEachPlanStep(t, sqlstore.RetentionStatements, 1, func(q, detail string) {
		for _, table := range []string{"deliveries", "delivery_attempts", "events", "rooms", "idempotency"} {
			if !strings.HasPrefix(detail, "SCAN "+table) {
				continue
			}
			if table == "deliveries" && (strings.Contains(detail, "USING INDEX deliveries_first") || strings.Contains(detail, "USING INDEX deliveries_retry")) {
				continue // the unfinished deliveries, read through their partial indexes
			}
			t.Errorf("%s\nreads %q", q, detail)
		}
	})
}

// On SQLite a manual retry and replay's position lookup read deliveries and events by
// key, never a whole table.
func TestRetryStatementsReadNoWholeTable(t *testing.T) {
	t.Parallel()
	forEachPlanStep(t, sqlstore.RetryStatements, 1, func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN events") || strings.HasPrefix(detail, "SCAN deliveries") {
			t.Errorf("%s\nreads %q", q, detail)
		}
	})
}
