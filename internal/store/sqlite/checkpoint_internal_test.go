package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
	for range 3 * checkpointPagesMax / rowPages { // three times the hard bound in WAL pages
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
	d0, written := ckpt.done.Load(), 3*checkpointPagesMax/rowPages
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
	if n := last.Load(); n > 4*rowPages {
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
	write(checkpointPages / rowPages * 3 / 4) // three quarters of the threshold
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
	write(checkpointPages / rowPages / 2) // past the threshold: the background checkpoint starts
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
	// Usually two passes; more when a pass met another connection in the middle of
	// something (see TestCheckpointRetriesAfterAPause).
	if len(got) < 2 || got[0] <= catchUpFrames {
		t.Fatalf("frames left after each pass: %v; want the first pass to leave more than %d (the reader's), a later one at most %d", got, catchUpFrames, catchUpFrames)
	}
}

// A pass that could not run or copied nothing is retried after a pause that doubles each
// time; one that makes progress needs none. The passes stop at few frames left, at
// maxPasses, or when the checkpointer closes during a pause.
func TestCheckpointRetriesAfterAPause(t *testing.T) {
	t.Parallel()
	cdb, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "db"), checkpointConn))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := newCheckpointer(cdb, nil) // no writer: nothing wakes its goroutine
	t.Cleanup(func() { ckpt.close() })
	const us = time.Microsecond
	for _, tc := range []struct {
		name    string
		passes  [][2]int // frames, copied, as SQLite answers each pass (-1: could not run)
		closing bool     // the checkpointer closes during the first pause
		left    []int    // frames left after each pass that ran
		pauses  []time.Duration
	}{
		{"progress needs no pause", [][2]int{{500, 300}, {600, 500}, {620, 600}}, false,
			[]int{200, 100, 20}, nil},
		{"copied nothing once", [][2]int{{500, 300}, {600, 300}, {620, 600}}, false,
			[]int{200, 300, 20}, []time.Duration{250 * us}},
		{"could not run", [][2]int{{500, 300}, {-1, -1}, {-1, -1}, {600, 590}}, false,
			[]int{200, 10}, []time.Duration{250 * us, 500 * us}},
		{"a reader holds the frames", [][2]int{{500, 300}, {600, 300}, {600, 300}, {600, 300}, {600, 300}, {600, 300}, {600, 300}, {600, 300}}, false,
			[]int{200, 300, 300, 300, 300, 300, 300, 300}, []time.Duration{250 * us, 500 * us, 1000 * us, 2000 * us, 4000 * us, 8000 * us}},
		{"the pauses keep doubling", [][2]int{{500, 300}, {600, 300}, {700, 600}, {800, 600}, {820, 800}}, false,
			[]int{200, 300, 100, 200, 20}, []time.Duration{250 * us, 500 * us}},
		{"closing", [][2]int{{500, 300}, {600, 300}}, true,
			[]int{200, 300}, []time.Duration{250 * us}},
	} {
		n := 0
		ckpt.pass = func() (int, int, int, error) {
			p := tc.passes[n]
			n++
			return 0, p[0], p[1], nil
		}
		var left []int
		var pauses []time.Duration
		ckpt.afterPass = func(l int) { left = append(left, l) }
		ckpt.pause = func(d time.Duration) bool { pauses = append(pauses, d); return !tc.closing }
		if ran, err := ckpt.checkpoint(); !ran || err != nil {
			t.Fatalf("%s: ran %v, %v", tc.name, ran, err)
		}
		if n != len(tc.passes) || fmt.Sprint(left) != fmt.Sprint(tc.left) || fmt.Sprint(pauses) != fmt.Sprint(tc.pauses) {
			t.Errorf("%s: %d passes leaving %v after pauses %v; want %d leaving %v after %v", tc.name, n, left, pauses, len(tc.passes), tc.left, tc.pauses)
		}
	}
}

// The checkpointer's own pause ends when its time is up, and at once when the checkpointer
// closes, so closing never waits out a retry's pause.
func TestCheckpointPauseEndsAtClose(t *testing.T) {
	t.Parallel()
	cdb, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "db"), checkpointConn))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := newCheckpointer(cdb, nil)
	if !ckpt.wait(time.Microsecond) {
		t.Fatal("a pause before closing reported closing")
	}
	paused := make(chan bool)
	go func() { paused <- ckpt.wait(time.Hour) }()
	if err := ckpt.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-paused:
		if ok {
			t.Fatal("a pause cut short by closing reported its time up")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("closing did not end an hour's pause")
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

// rowPages is about how many WAL pages a row of checkpointed's table takes (its overflow
// pages and the leaf page that holds its start): the tests write the same number of rows,
// each its own commit, whatever the checkpoint threshold.
const rowPages = checkpointPages / 200

// checkpointed opens the writer connection on a new database at path with a checkpointer
// and the hook (which must call the checkpointer's), creates table t, and returns the
// connection, the checkpointer, and a function that writes rows of about rowPages pages.
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
	blob := strings.Repeat("x", (rowPages-1)*4092) // an overflow page holds 4,092 bytes
	return conn, ckpt, func(rows int) {
		t.Helper()
		for range rows {
			if _, err := conn.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, blob); err != nil {
				t.Fatal(err)
			}
		}
	}
}
