package inbound_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
)

// BenchmarkChimeHTTP posts Chime messages over real HTTP on loopback to a real server with
// durable SQLite: 64 concurrent keep-alive clients, spread round-robin over many rooms
// (CHATHOOKS_BENCH_ROOMS, default 1000), one webhook each. The per-room rate limit is off
// (0 = unlimited, the apptest default) so the figure is the server's capacity. Reports
// requests/s and p50/p99 latency.
func BenchmarkChimeHTTP(b *testing.B) {
	rooms := 1000
	if v, err := strconv.Atoi(os.Getenv("CHATHOOKS_BENCH_ROOMS")); err == nil && v > 0 {
		rooms = v
	}
	const concurrency = 64
	s := apptest.Start(b, apptest.Options{})
	urls := make([]string, rooms)
	for i := range urls {
		id := fmt.Sprintf("bench-%04d", i)
		s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": id, "name": id})
		var h hook
		s.Must(201, "POST", "/api/v1/rooms/"+id+"/webhooks", map[string]any{"name": "Bench"}).JSON(b, &h)
		urls[i] = h.URLs.Chime
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: time.Minute}}
	body := []byte(`{"Content":"Deploy finished :+1: details: https://ci.example.com/run/42 @Present"}`)
	lat := make([][]time.Duration, concurrency)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(urls[i%int64(rooms)], "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
