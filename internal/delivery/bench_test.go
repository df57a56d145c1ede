package delivery_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// BenchmarkDeliveryThroughput: b.N messages posted by 32 concurrent API clients into 64
// rooms, each delivered (standard format, signed) to 10 fast local receivers (200 at once).
// Reports deliveries/s from the first post to the last arrival, and the latency from the
// message's commit time (created_at) to its arrival at a receiver.
func BenchmarkDeliveryThroughput(b *testing.B) {
	s := apptest.Start(b, apptest.Options{})
	const endpoints, rooms, clients = 10, 64, 32
	var mu sync.Mutex
	lats := make([]time.Duration, 0, b.N*endpoints)
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(b.N * endpoints)
	for range endpoints {
		rc := newReceiver(b, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
			now := time.Now()
			var p struct {
				Data struct{ Message chat.Message }
			}
			_ = json.Unmarshal(body, &p)
			mu.Lock()
			lats = append(lats, now.Sub(p.Data.Message.CreatedAt))
			mu.Unlock()
			if got.Add(1) == want {
				close(done)
			}
			w.WriteHeader(http.StatusNoContent)
		})
		s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 64})
	}
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "u", "name": "U"})
	for r := range rooms {
		s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": fmt.Sprint("r", r), "name": "R", "member_ids": []string{"u"}})
	}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				s.Do("POST", fmt.Sprintf("/api/v1/rooms/r%d/messages", i%rooms), map[string]any{"sender_id": "u", "text": fmt.Sprint("m", i)})
			}
		})
	}
	wg.Wait()
	posted := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d deliveries arrived", got.Load(), want)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/posted.Seconds(), "posts/s")
	b.ReportMetric(float64(pct(lats, .5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lats, .99).Microseconds())/1000, "p99-ms")
}
