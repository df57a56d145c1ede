package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

// commitStats reads, from each node's metrics, the commits, their requests, the writers'
// busy time, the write transactions longer than SlowWrite (the count past the histogram's
// SlowWrite bucket), and the batches run again, summed over the nodes.
func TestCommitStats(t *testing.T) {
	node := func(count, fast int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "chathooks_store_commit_batch_size_count %d\n", count)
			fmt.Fprintf(w, "chathooks_store_commit_batch_size_sum %d\n", 3*count)
			fmt.Fprintf(w, "chathooks_store_commit_duration_seconds_bucket{le=\"0.025\"} %d\n", fast-1)
			fmt.Fprintf(w, "chathooks_store_commit_duration_seconds_bucket{le=\"0.05\"} %d\n", fast)
			fmt.Fprintf(w, "chathooks_store_commit_duration_seconds_bucket{le=\"0.1\"} %d\n", count)
			fmt.Fprintf(w, "chathooks_store_commit_duration_seconds_sum 1.5\n")
			fmt.Fprintf(w, "chathooks_store_commit_duration_seconds_count %d\n", count)
			fmt.Fprintf(w, "chathooks_delivery_attempt_duration_seconds_sum %g\n", 0.002*float64(count))
			fmt.Fprintf(w, "chathooks_delivery_attempt_duration_seconds_count %d\n", count)
			fmt.Fprintf(w, "chathooks_delivery_slot_seconds_total{endpoint_id=\"ep_a\"} %g\n", 0.001*float64(count))
			fmt.Fprintf(w, "chathooks_delivery_slot_seconds_total{endpoint_id=\"ep_b\"} %g\n", 0.002*float64(count))
			fmt.Fprintf(w, "chathooks_store_batch_lock_wait_seconds_sum %g\n", 0.003*float64(count))
			fmt.Fprintf(w, "chathooks_store_batch_lock_wait_seconds_count %d\n", count)
			fmt.Fprintf(w, "chathooks_store_batch_reruns_total{reason=\"key_not_new\"} %d\n", count/10)
			fmt.Fprintf(w, "chathooks_store_batch_reruns_total{reason=\"not_begun\"} 1\n")
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	c := commitStats(context.Background(), http.DefaultClient, []string{node(10, 7), node(20, 20)})
	if c.commits != 30 || c.requests != 90 || c.busy != 3 || c.slow != 3 {
		t.Fatalf("commits %v, requests %v, busy %v, slow %v; want 30, 90, 3, 3", c.commits, c.requests, c.busy, c.slow)
	}
	if c.attempts != 30 || math.Abs(c.attemptSecs-0.06) > 1e-12 {
		t.Fatalf("attempts %v taking %v s; want 30 taking 0.06", c.attempts, c.attemptSecs)
	}
	if math.Abs(c.slotSecs-0.09) > 1e-12 {
		t.Fatalf("slot seconds %v; want 0.09 (two endpoints' series on each of two nodes)", c.slotSecs)
	}
	if c.lockWaits != 30 || math.Abs(c.lockWaitSecs-0.09) > 1e-12 {
		t.Fatalf("batches begun with the lock %v taking %v s; want 30 taking 0.09", c.lockWaits, c.lockWaitSecs)
	}
	if c.reruns != 5 {
		t.Fatalf("batches run again %v; want 5 (two reasons on each of two nodes)", c.reruns)
	}
}
