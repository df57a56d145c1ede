//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package sqlite

// LocksDataDir reports whether Open locks the data directory on this platform.
const LocksDataDir = false

// lockDir does not lock the data directory on this platform (it has no flock).
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
