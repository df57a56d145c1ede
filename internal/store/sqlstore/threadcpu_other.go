//go:build !linux

package sqlstore

import "time"

// threadCPU is not measured on this platform: the writer never paces its commits.
func threadCPU() (time.Duration, bool) { return 0, false }
