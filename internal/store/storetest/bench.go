package storetest

import (
	"slices"
	"testing"
	"time"
)

// ReportWrites reports a write benchmark's figures: writes per second over elapsed, the
// median and 99th-percentile latency of the writes collected on lat (closed by the caller),
// and how many writes shared each commit.
func ReportWrites(b *testing.B, lat <-chan []time.Duration, elapsed time.Duration, batched, batches int64) {
	b.Helper()
	var all []time.Duration
	for l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	if batches > 0 {
		b.ReportMetric(float64(batched)/float64(batches), "msgs/commit")
	}
}
