package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/migrate"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) chat.Store {
		s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A database migrated by a newer chathooks is refused, not silently used.
func TestRefusesNewerSchema(t *testing.T) {
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
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(context.Background(), dir, sqlite.Options{})
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		t.Fatalf("opening a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// One store at a time holds a data directory: a second Open is refused while the first is
// open (the store keeps what it wrote in memory), and succeeds once it is closed; a store
// that failed to open leaves the directory free.
func TestDataDirectoryHeldByOneStore(t *testing.T) {
	t.Parallel()
	if !sqlite.LocksDataDir {
		t.Skip("the data directory is not locked on this platform (no flock)")
	}
	dir := t.TempDir()
	s, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := sqlite.Open(context.Background(), dir, sqlite.Options{}); !errors.Is(err, sqlite.ErrDataDirInUse) || !strings.Contains(err.Error(), dir) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second open of a held directory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sqlite.Open(ctx, dir, sqlite.Options{}); err == nil {
		t.Fatal("open with a cancelled context succeeded")
	}
	s, err = sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
