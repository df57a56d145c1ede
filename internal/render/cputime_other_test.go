//go:build !linux

package render

import "time"

// cpuTime returns the wall time f took (thread CPU time is read on Linux only).
func cpuTime(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
