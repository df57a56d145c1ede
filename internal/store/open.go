// Package store opens the configured storage: the embedded SQLite database in a data
// directory, or PostgreSQL when a database URL is given.
package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// Options are passed to whichever implementation is opened.
type Options struct {
	SQLite   sqlite.Options
	Postgres postgres.Options
}

// IsPostgres reports whether databaseURL selects PostgreSQL.
func IsPostgres(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Open opens the store: PostgreSQL when databaseURL is set, else SQLite under dataDir.
func Open(ctx context.Context, dataDir, databaseURL string, o Options) (chat.Store, error) {
	if databaseURL != "" {
		if !IsPostgres(databaseURL) {
			return nil, fmt.Errorf("store: unsupported database URL (want postgres://...)")
		}
		return postgres.Open(ctx, databaseURL, o.Postgres)
	}
	return sqlite.Open(ctx, dataDir, o.SQLite)
}
