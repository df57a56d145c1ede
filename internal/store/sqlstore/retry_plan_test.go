package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// On SQLite a manual retry and replay's position lookups read deliveries and events by
// key, never a whole table.
func TestRetryStatementsReadNoWholeTable(t *testing.T) {
	t.Parallel()
	forEachPlanStep(t, sqlstore.RetryStatements, 1, func(q, detail string) {
		if strings.HasPrefix(detail, "SCAN events") || strings.HasPrefix(detail, "SCAN deliveries") {
			t.Errorf("%s\nreads %q", q, detail)
		}
	})
}
