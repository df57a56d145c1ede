// Package sqlite is the embedded storage: one SQLite file in WAL mode with
// synchronous=FULL, run by the shared sqlstore engine with ONE group-commit writer that
// owns the only write connection (SQLite has a single writer), and a separate pool of
// query-only connections for reads (WAL lets them run during writes).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/migrate"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tune the store.
type Options struct {
	sqlstore.Options
	// ReadConns is the size of the read pool (default 4).
	ReadConns int

	wrapWriter func(sqlstore.WriterConn) sqlstore.WriterConn // tests: wraps the writer connection
}

// CommitWindow is the longest the writer gathers requests for one commit while it is busy
// recording delivery outcomes or short of CPU (sqlstore.Options.CommitWindow). Each commit
// costs CPU of its own (the log written and flushed with synchronous=FULL, SQLite's commit
// work); with the cores saturated, fewer commits leave the CPU to the work itself.
// Measured on 2 cores: 2 ms let deliveries keep up where they fell behind, 1 ms did less.
const CommitWindow = 2 * time.Millisecond

// Dialect is SQLite's.
var Dialect = &sqlstore.Dialect{
	Name:       "sqlite",
	SingleNode: true,
	Begin:      "BEGIN IMMEDIATE",
	Classify: func(err error) chat.Code {
		var se *sqlite3.Error
		if errors.As(err, &se) {
			switch se.ExtendedCode() {
			case sqlite3.CONSTRAINT_PRIMARYKEY, sqlite3.CONSTRAINT_UNIQUE:
				return chat.CodeAlreadyExists
			case sqlite3.CONSTRAINT_FOREIGNKEY:
				return chat.CodeNotFound
			}
		}
		return ""
	},
	NoRows:    func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
	Retryable: func(error) bool { return false }, // one writer: nothing to race with
}

// connRole is what a connection is opened for.
type connRole int

const (
	writerConn     connRole = iota // the one connection that writes (and migrates)
	checkpointConn                 // copies the log into the database beside the writer
	readConn                       // the read pool
)

// dsn is the driver data source for the database file.
func dsn(path string, role connRole) string {
	q := url.Values{}
	if role == writerConn {
		useWALBufferVFS()
		q.Add("vfs", walBufferVFSName)
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(on)")
	q.Add("_pragma", "synchronous(full)")
	q.Add("_pragma", "journal_mode(wal)")
	// Statement journals (kept for every statement that may fail halfway inside a
	// transaction) stay in memory: once one outgrew SQLite's 64 KiB in-memory spill
	// threshold, every later statement of the connection wrote its pages to a temporary
	// file, a system call per page.
	q.Add("_pragma", "temp_store(memory)")
	if role == readConn {
		q.Add("_pragma", "query_only(on)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// ErrDataDirInUse is Open's error for a data directory that another open store holds.
var ErrDataDirInUse = errors.New("the data directory is in use by another chathooks server")

// Open opens (creating if needed) the database in dir, applies migrations (refusing a
// schema newer than this binary) and starts the writer. It refuses a data directory that
// another open store holds, in this process or another (lockDir): ErrDataDirInUse.
func Open(ctx context.Context, dir string, o Options) (*sqlstore.Store, error) {
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, dir, o, unlock)
	if err != nil {
		_ = unlock()
	}
	return s, err
}

// open opens the database in a data directory that lockDir locked; closing the store
// releases the lock (unlock), after everything else.
func open(ctx context.Context, dir string, o Options, unlock func() error) (*sqlstore.Store, error) {
	path := filepath.Join(dir, "chathooks.db")
	wdb, err := sql.Open("sqlite3", dsn(path, writerConn))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		wdb.Close()
		return nil, err
	}
	if err := migrate.Up(ctx, wdb, ms, func(int) string { return "?" }); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: writer connection: %w", err)
	}
	cdb, err := sql.Open("sqlite3", dsn(path, checkpointConn))
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open checkpoint connection: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetConnMaxIdleTime(0)
	ckpt := newCheckpointer(cdb, o.Logger)
	if err := conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return fmt.Errorf("driver connection %T has no Raw", dc)
		}
		c.Raw().WALHook(ckpt.hook)
		return nil
	}); err != nil {
		ckpt.close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: writer connection: %w", err)
	}
	rdb, err := sql.Open("sqlite3", dsn(path, readConn))
	if err != nil {
		ckpt.close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open read pool: %w", err)
	}
	rdb.SetMaxOpenConns(o.ReadConns)
	rdb.SetMaxIdleConns(o.ReadConns)
	rdb.SetConnMaxIdleTime(0)
	read := sqlstore.NewDBQuerier(rdb)
	closeDBs := func() error { return errors.Join(read.Close(), rdb.Close(), ckpt.close(), wdb.Close(), unlock()) }
	var wc sqlstore.WriterConn = newNativeWriter(conn)
	if o.wrapWriter != nil {
		wc = o.wrapWriter(wc)
	}
	return sqlstore.New(Dialect, read, []sqlstore.WriterConn{wc}, closeDBs, o.Options), nil
}
