package app_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// A second server started on a data directory that a running server holds refuses to
// start, and says what to do; once the first has stopped, the directory can be used again.
func TestSecondServerOnADataDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	if !sqlite.LocksDataDir {
		t.Skip("the data directory is not locked on this platform (no flock)")
	}
	dir := t.TempDir()
	first := startApp(t, dir)
	cfg := app.Config{Addr: "127.0.0.1:0", DataDir: dir, AdminToken: apptest.AdminToken, Version: "test"}
	second, err := app.New(context.Background(), cfg, apptest.Logger(t), io.Discard)
	if !errors.Is(err, sqlite.ErrDataDirInUse) || !strings.Contains(err.Error(), "another --data directory") {
		if second != nil {
			_ = second.Shutdown(context.Background())
		}
		t.Fatalf("a second server on the same data directory: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := app.New(context.Background(), cfg, apptest.Logger(t), io.Discard)
	if err != nil {
		t.Fatalf("the data directory after the first server stopped: %v", err)
	}
	if err := again.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
