package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// countingFile is an in-memory file that counts the writes and syncs that reach it.
type countingFile struct {
	vfsutil.SliceFile
	writes, syncs int
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.writes++
	return f.SliceFile.WriteAt(p, off)
}

func (f *countingFile) Sync(flags vfs.SyncFlag) error {
	f.syncs++
	return f.SliceFile.Sync(flags)
}

func TestWALBufferWritesOnceASync(t *testing.T) {
	under := &countingFile{}
	f := &walBufferFile{File: under}
	frame := bytes.Repeat([]byte{7}, 4096)
	header := bytes.Repeat([]byte{1}, 24)
	off := int64(32)
	for i := 0; i < 50; i++ { // a commit of 50 frames: header, page, header, page, ...
		for _, p := range [][]byte{header, frame} {
			if n, err := f.WriteAt(p, off); err != nil || n != len(p) {
				t.Fatalf("write: %d %v", n, err)
			}
			off += int64(len(p))
		}
	}
	if under.writes != 0 {
		t.Fatalf("%d writes reached the file before the sync", under.writes)
	}
	if err := f.Sync(vfs.SYNC_FULL); err != nil {
		t.Fatal(err)
	}
	if under.writes != 1 || under.syncs != 1 {
		t.Fatalf("after the sync: %d writes, %d syncs; want 1 and 1", under.writes, under.syncs)
	}
	if size, _ := under.SliceFile.Size(); size != off {
		t.Fatalf("file size %d, want %d", size, off)
	}
	last := make([]byte, 4096)
	if _, err := under.SliceFile.ReadAt(last, off-4096); err != nil || !bytes.Equal(last, frame) {
		t.Fatalf("last frame not where it belongs: %v", err)
	}
}

func TestWALBufferReadsItsOwnWrites(t *testing.T) {
	under := &countingFile{}
	f := &walBufferFile{File: under}
	if _, err := f.WriteAt([]byte("header"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("frame1"), 6); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 12)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != "headerframe1" {
		t.Fatalf("read %q, %v", got, err)
	}
	if size, err := f.Size(); err != nil || size != 12 {
		t.Fatalf("size %d, %v", size, err)
	}
	// A write that does not continue the buffer (a frame rewritten in place) goes after
	// what came before it, not before.
	if _, err := f.WriteAt([]byte("x"), 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("FRAME1"), 6); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	all := make([]byte, 21)
	if _, err := under.SliceFile.ReadAt(all, 0); err != nil || string(all[:12]) != "headerFRAME1" || all[20] != 'x' {
		t.Fatalf("file %q, %v", all, err)
	}
}

// The writer connection opens its write-ahead log through the buffer, and what it commits
// is at once visible to a connection that reads the log itself.
func TestWriterCommitsThroughTheWALBuffer(t *testing.T) {
	wdb, rdb := writerAndReader(t)
	ctx := context.Background()
	conn, err := wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wrapped bool
	if err := conn.Raw(func(dc any) error {
		c := dc.(interface{ Raw() *sqlite3.Conn }).Raw()
		f, err := c.FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
		if err != nil {
			return err
		}
		_, wrapped = f.(*walBufferFile)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !wrapped {
		t.Fatal("the writer's log is not opened through the buffer")
	}
	for i := 1; i <= 200; i++ {
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, string(bytes.Repeat([]byte{'a'}, 3000))); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := rdb.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != i {
			t.Fatalf("reader saw %d rows after %d commits: %v", n, i, err)
		}
	}
}

// A transaction larger than the buffer's bound is written in pieces as it goes, each in
// its place, and reads back whole.
func TestWALBufferBoundedByLargeTransactions(t *testing.T) {
	under := &countingFile{}
	f := &walBufferFile{File: under}
	var want []byte
	off := int64(0)
	for i := 0; len(want) < walBufferMax+walBufferMax/2; i++ {
		page := bytes.Repeat([]byte{byte(i)}, 4096)
		if _, err := f.WriteAt(page, off); err != nil {
			t.Fatal(err)
		}
		want = append(want, page...)
		off += int64(len(page))
	}
	if under.writes != 1 {
		t.Fatalf("%d writes reached the file before the sync; want 1 (at the bound)", under.writes)
	}
	if len(f.buf) >= walBufferMax {
		t.Fatalf("buffer holds %d bytes, bound %d", len(f.buf), walBufferMax)
	}
	if err := f.Sync(vfs.SYNC_FULL); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := under.SliceFile.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file differs from what was written: %v", err)
	}
}

// Through the writer: one commit of about 10 MiB, read back by another connection.
func TestWriterCommitsMoreThanTheBuffer(t *testing.T) {
	wdb, rdb := writerAndReader(t)
	ctx := context.Background()
	tx, err := wdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	value := string(bytes.Repeat([]byte{'b'}, 10_000))
	for range 1000 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, value); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n, total int
	if err := rdb.QueryRowContext(ctx, `SELECT count(*), sum(length(v)) FROM t`).Scan(&n, &total); err != nil || n != 1000 || total != 10_000_000 {
		t.Fatalf("reader saw %d rows, %d bytes: %v", n, total, err)
	}
}

// writerAndReader opens a new database as the store does: its writer (one connection) and
// a read pool; the writer has made table t (n, v).
func writerAndReader(t *testing.T) (wdb, rdb *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	wdb, err := sql.Open("sqlite3", dsn(path, writerConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wdb.Close() })
	wdb.SetMaxOpenConns(1)
	rdb, err = sql.Open("sqlite3", dsn(path, readConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if _, err := wdb.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	return wdb, rdb
}
