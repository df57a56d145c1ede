//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package sqlite

// locksDataDir: Open does not lock the data directory on this platform.
const locksDataDir = false

// lockDir does not lock the data directory on this platform (it has no flock).
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
