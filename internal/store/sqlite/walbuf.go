package sqlite

import (
	"sync"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// walBufferVFS is the operating system's VFS with the write-ahead log's appends gathered
// in memory and written with one system call when the log is next synced. SQLite writes
// a commit's log as two writes a page (a 24-byte frame header, then the page), so a batch
// of posts that dirties a hundred pages cost two hundred pwrite calls before its fsync;
// on a loaded two-core machine those calls were about a quarter of the writer's CPU.
//
// Only the writer connection opens the database through it (walBufferVFSName in its
// data source), and that connection commits with synchronous = FULL: SQLite syncs the log
// before it publishes a commit in the WAL index, so no other connection can look for a
// frame still in the buffer. The buffer is also written out before anything that could
// observe the file through this handle (a read, its size, a truncation, a close) and
// before any write that does not continue it, so the handle itself always reads what it
// wrote. A write that fails surfaces from the sync that follows, failing that commit, as a
// failed fsync would.
type walBufferVFS struct {
	vfs.VFS
}

// walBufferVFSName is the name the VFS is registered under.
const walBufferVFSName = "chathooks-walbuf"

var registerWALBuffer sync.Once

// useWALBufferVFS registers the VFS (once per process: SQLite's VFS registry is global).
func useWALBufferVFS() {
	registerWALBuffer.Do(func() {
		vfs.Register(walBufferVFSName, walBufferVFS{vfs.Find("os")})
	})
}

// Open implements vfs.VFS.
func (v walBufferVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpen(v.VFS, name, flags)
	return wrapWAL(f, flags, err)
}

// OpenFilename implements vfs.VFSFilename.
func (v walBufferVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(v.VFS, name, flags)
	return wrapWAL(f, flags, err)
}

// wrapWAL wraps write-ahead logs; every other file is the operating system's as it is.
func wrapWAL(f vfs.File, flags vfs.OpenFlag, err error) (vfs.File, vfs.OpenFlag, error) {
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &walBufferFile{File: f}, flags, nil
}

// walBufferMax bounds the buffer: a transaction larger than this is written in pieces.
const walBufferMax = 4 << 20

// walBufferFile is one handle on a write-ahead log. SQLite calls a file's methods from the
// connection that owns it, one at a time, so its fields need no lock.
type walBufferFile struct {
	vfs.File
	buf []byte // bytes not yet written, which belong at offset off of the file
	off int64
}

// WriteAt implements vfs.File: appends to the buffer when p continues it.
func (f *walBufferFile) WriteAt(p []byte, off int64) (int, error) {
	if len(f.buf) > 0 && off != f.off+int64(len(f.buf)) {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	if len(f.buf) == 0 {
		f.off = off
	}
	f.buf = append(f.buf, p...)
	if len(f.buf) >= walBufferMax {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes the buffer out.
func (f *walBufferFile) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	_, err := f.File.WriteAt(f.buf, f.off)
	f.buf = f.buf[:0]
	if cap(f.buf) > walBufferMax {
		f.buf = nil // one unusually large flush does not stay allocated
	}
	return err
}

// Sync implements vfs.File.
func (f *walBufferFile) Sync(flags vfs.SyncFlag) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Sync(flags)
}

// ReadAt implements vfs.File.
func (f *walBufferFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

// Size implements vfs.File.
func (f *walBufferFile) Size() (int64, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.Size()
}

// Truncate implements vfs.File.
func (f *walBufferFile) Truncate(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// Close implements vfs.File.
func (f *walBufferFile) Close() error {
	err := f.flush()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// SizeHint implements vfs.FileSizeHint.
func (f *walBufferFile) SizeHint(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return vfsutil.WrapSizeHint(f.File, size)
}

// Unwrap implements vfs.FileUnwrap.
func (f *walBufferFile) Unwrap() vfs.File { return f.File }
