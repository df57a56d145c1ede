package bench_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/bench"
)

// A short run of the real benchmark: rooms, webhooks, endpoints, receivers (one black
// hole), the all-healthy comparison run and the report.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	var progress, table bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		DataDir: t.TempDir(), Duration: 1500 * time.Millisecond, Rooms: 60, RoomRate: 1, Concurrency: 8,
		Endpoints: 2, FailureShare: 0.5, FailureMode: "blackhole", Drain: 20 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []bench.PhaseResult{*res.Healthy, res.Run} {
		if p.Accepted == 0 || p.PostLatency.Count == 0 {
			t.Fatalf("no accepted posts: %+v", p)
		}
		if p.Delivered != p.ExpectedDeliveries || p.ExpectedDeliveries == 0 {
			t.Fatalf("delivered %d of %d", p.Delivered, p.ExpectedDeliveries)
		}
		// 429s can happen when arrival jitter lands two paced posts within a second: the
		// bench reports them; anything else is a failure.
		for status := range p.Errors {
			if status != "429" {
				t.Fatalf("errors: %v", p.Errors)
			}
		}
	}
	if res.Healthy.ExpectedDeliveries/res.Healthy.Accepted < 2 || res.IsolationX <= 0 {
		t.Fatalf("comparison run: %+v ratio %v", res.Healthy, res.IsolationX)
	}
	bench.WriteTable(&table, res)
	for _, want := range []string{"accepted posts", "post→receiver latency", "isolation:"} {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
}
