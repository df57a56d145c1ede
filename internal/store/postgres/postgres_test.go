package postgres_test

import (
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) chat.Store {
		// The assertion is dynamic while the incoming/outgoing webhook storage is being
		// ported onto the shared engine; it becomes static once both backends implement it.
		s, ok := any(pgtest.Open(t)).(chat.Store)
		if !ok {
			t.Skip("the PostgreSQL store does not implement the whole chat.Store yet")
		}
		return s
	})
}
