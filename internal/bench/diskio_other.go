//go:build !linux

package bench

// diskWrites is unknown off Linux.
func diskWrites() (uint64, bool) { return 0, false }
