package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// TestCheckpointOffTheWriter writes continuously past the checkpoint threshold: the
// checkpoints run on the checkpointer's connection, the WAL never grows past the bound, and
// once a background checkpoint has finished, the writer's next commits start the WAL over.
func TestCheckpointOffTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var last, most atomic.Int64 // WAL pages after the latest commit; the most seen
	conn, ckpt, writeRows := checkpointed(t, filepath.Join(t.TempDir(), "db"), func(ckpt *checkpointer) func(*sqlite3.Conn, string, int) error {
		return func(db *sqlite3.Conn, schema string, pages int) error {
			last.Store(int64(pages))
			if int64(pages) > most.Load() {
				most.Store(int64(pages))
			}
			return ckpt.hook(db, schema, pages)
		}
	})
	write := func() { t.Helper(); writeRows(1) }
	for range 3 * checkpointPagesMax / 5 { // three times the hard bound in WAL pages
		write()
	}
	if ckpt.done.Load() == 0 {
		t.Fatal("no checkpoint ran in the background")
	}
	if m := most.Load(); m >= checkpointPagesMax+10 {
		t.Fatalf("the WAL grew to %d pages (bound %d)", m, checkpointPagesMax)
	}
	// Once a background checkpoint has finished, the writer's next commit catches up and
	// the one after starts the WAL over: it holds only its own pages.
	d0, written := ckpt.done.Load(), 3*checkpointPagesMax/5
	deadline := time.Now().Add(20 * time.Second)
	for ckpt.done.Load() == d0 {
		if time.Now().After(deadline) {
			t.Fatal("no background checkpoint finished")
		}
		write()
		written++
	}
	write()
	write()
	written += 2
	if n := last.Load(); n > 20 {
		t.Fatalf("the WAL was not started over after the checkpoint: %d pages", n)
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != written {
		t.Fatalf("rows %d, %v", n, err)
	}
}

// A background checkpoint that leaves more than catchUpFrames frames uncopied (here a
// reader holds them until the first pass is over) runs again, so the writer's catch-up
// inside its next commit has at most catchUpFrames frames to copy.
func TestCheckpointPassesUntilFewFramesLeft(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	_, ckpt, write := checkpointed(t, path, func(ckpt *checkpointer) func(*sqlite3.Conn, string, int) error { return ckpt.hook })
	write(checkpointPages / 5 * 3 / 4) // three quarters of the threshold
	// A reader's snapshot now: the frames written after it cannot be copied while it reads.
	rdb, err := sql.Open("sqlite3", dsn(path, readConn))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rtx, err := rdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	lefts := make(chan int, maxPasses)
	ckpt.afterPass = func(left int) {
		if len(lefts) == 0 {
			_ = rtx.Rollback() // the reader is done: the second pass can copy the rest
		}
		lefts <- left
	}
	write(checkpointPages / 5 / 2) // past the threshold: the background checkpoint starts
	// Each pass reports what it left; the checkpoint stops at the first that leaves few.
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	var got []int
	for len(got) == 0 || got[len(got)-1] > catchUpFrames {
		select {
		case l := <-lefts:
			got = append(got, l)
		case <-timeout.C:
			t.Fatalf("frames left after each pass so far: %v; no pass left at most %d", got, catchUpFrames)
		}
	}
	if len(got) != 2 || got[0] <= catchUpFrames {
		t.Fatalf("frames left after each pass: %v; want two passes, the first leaving more than %d (the reader's), the second at most %d", got, catchUpFrames, catchUpFrames)
	}
}

// A background checkpoint none of whose passes could run (SQLite answers -1 frames when
// another connection holds the checkpoint lock) copied nothing: it must not count as
// finished, which would have the writer copy the whole log inside its next commit. The
// writer's next commit past the threshold starts a new one, which runs.
func TestCheckpointThatCouldNotRunIsStartedAgain(t *testing.T) {
	t.Parallel()
	_, ckpt, write := checkpointed(t, filepath.Join(t.TempDir(), "db"), func(ckpt *checkpointer) func(*sqlite3.Conn, string, int) error { return ckpt.hook })
	var calls atomic.Int64
	refused, release := make(chan struct{}), make(chan struct{})
	pass := ckpt.pass
	ckpt.pass = func() (int, int, int, error) { // set before any commit can wake the checkpointer
		switch n := calls.Add(1); {
		case n == 1:
			close(refused)
			<-release // held until the test stops writing: no commit can start another meanwhile
			return 1, -1, -1, nil
		case n <= maxPasses: // every pass of the first checkpoint is refused
			return 1, -1, -1, nil
		}
		return pass()
	}
	deadline := time.Now().Add(20 * time.Second)
	for woken := false; !woken; { // write until a commit past the threshold woke it
		if time.Now().After(deadline) {
			t.Fatal("no background checkpoint was started")
		}
		write(1)
		select {
		case <-refused:
			woken = true
		default:
		}
	}
	close(release)
	for ckpt.running.Load() { // the refused attempt ends
		if time.Now().After(deadline) {
			t.Fatal("the refused checkpoint never ended")
		}
		runtime.Gosched()
	}
	if ckpt.done.Load() != 0 || ckpt.finished.Load() || ckpt.passes.Load() != 0 {
		t.Fatalf("a checkpoint that could not run counted: done %d, finished %v, passes %d", ckpt.done.Load(), ckpt.finished.Load(), ckpt.passes.Load())
	}
	for ckpt.done.Load() == 0 { // later commits past the threshold start one that runs
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint ran after the refused one (%d attempts)", calls.Load())
		}
		write(1)
	}
	if calls.Load() <= maxPasses || ckpt.passes.Load() == 0 {
		t.Fatalf("attempts %d, passes %d", calls.Load(), ckpt.passes.Load())
	}
}

// checkpointed opens the writer connection on a new database at path with a checkpointer
// and the hook (which must call the checkpointer's), creates table t, and returns the
// connection, the checkpointer, and a function that writes rows of 16 KiB (5 pages each).
func checkpointed(t *testing.T, path string, hook func(ckpt *checkpointer) func(*sqlite3.Conn, string, int) error) (*sql.Conn, *checkpointer, func(rows int)) {
	t.Helper()
	ctx := context.Background()
	wdb, err := sql.Open("sqlite3", dsn(path, writerConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wdb.Close() })
	wdb.SetMaxOpenConns(1)
	cdb, err := sql.Open("sqlite3", dsn(path, checkpointConn))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := newCheckpointer(cdb, nil)
	t.Cleanup(func() { ckpt.close() })
	conn, err := wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Raw(func(dc any) error {
		dc.(interface{ Raw() *sqlite3.Conn }).Raw().WALHook(hook(ckpt))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 16<<10)
	return conn, ckpt, func(rows int) {
		t.Helper()
		for range rows {
			if _, err := conn.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, blob); err != nil {
				t.Fatal(err)
			}
		}
	}
}
