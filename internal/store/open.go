// Package store opens the configured storage: the embedded SQLite database in a data
// directory, or PostgreSQL when a database URL is given.
package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// Options are passed to whichever implementation is opened.
type Options struct {
	SQLite sqlite.Options
}

// Open opens the store: PostgreSQL when databaseURL is set, else SQLite under dataDir.
func Open(ctx context.Context, dataDir, databaseURL string, o Options) (chat.Store, error) {
	if databaseURL != "" {
		if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
			return nil, fmt.Errorf("store: the PostgreSQL backend is not available in this build yet")
		}
		return nil, fmt.Errorf("store: unsupported database URL scheme (want postgres://)")
	}
	s, err := sqlite.Open(ctx, dataDir, o.SQLite)
	if err != nil {
		return nil, err
	}
	return s, nil
}
