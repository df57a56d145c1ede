//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LocksDataDir reports whether Open locks the data directory on this platform.
const LocksDataDir = true

// lockDir takes an exclusive lock on the data directory (a lock file in it), held until
// release is called or the process ends: one process writes a database, and the store
// keeps what it wrote in memory (the rooms as posts read them, each room's newest event
// number), which another process writing the same file would make wrong.
func lockDir(dir string) (release func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "chathooks.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite: %s: %w", dir, ErrDataDirInUse)
		}
		return nil, fmt.Errorf("sqlite: lock data directory: %w", err)
	}
	return f.Close, nil // closing the file releases the lock
}
