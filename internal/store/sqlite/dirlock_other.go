//go:build !unix

package sqlite

// lockDir does not lock the data directory on this platform.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
