package delivery_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// isolationRun posts msgs messages (4 concurrent senders) with nine healthy endpoints and,
// if blackHole, a tenth that accepts connections and never answers. It returns every
// healthy delivery's latency from the message's commit time to its arrival.
func isolationRun(t *testing.T, msgs int, blackHole bool) []time.Duration {
	s := apptest.Start(t, apptest.Options{})
	var mu sync.Mutex
	var lats []time.Duration
	seen := map[string]int{}
	healthy := func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		now := time.Now()
		var b struct {
			Data struct{ Message chat.Message }
		}
		_ = json.Unmarshal(body, &b)
		mu.Lock()
		lats = append(lats, now.Sub(b.Data.Message.CreatedAt))
		seen[b.Data.Message.ID]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
	types := []string{chat.EventMessageSend}
	for range 9 {
		createEndpoint(t, s, map[string]any{"url": newReceiver(t, healthy).URL, "event_types": types})
	}
	var bad *receiver
	if blackHole {
		stop := make(chan struct{})
		bad = newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		})
		t.Cleanup(func() { close(stop) })
		createEndpoint(t, s, map[string]any{"url": bad.URL, "event_types": types, "timeout_ms": 60000})
	}
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < msgs; i += 4 {
				send(t, s, "r", "u", fmt.Sprintf("m%d", i))
			}
		})
	}
	wg.Wait()
	apptest.Eventually(t, 20*time.Second, "every healthy endpoint got every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < msgs {
			return false
		}
		for _, n := range seen {
			if n < 9 {
				return false
			}
		}
		return true
	})
	if blackHole && bad.count() == 0 {
		t.Fatalf("the black hole got nothing: the test did not exercise it")
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lats)
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestIsolationBlackHole: a black-holing endpoint does not delay the nine others.
func TestIsolationBlackHole(t *testing.T) {
	t.Parallel()
	msgs := 200
	if testing.Short() {
		msgs = 60
	}
	base := isolationRun(t, msgs, false)
	with := isolationRun(t, msgs, true)
	b50, b99, w50, w99 := pct(base, .5), pct(base, .99), pct(with, .5), pct(with, .99)
	t.Logf("isolation, %d messages x 9 healthy endpoints: without the black hole p50 %v p99 %v; with it p50 %v p99 %v (x%.2f)",
		msgs, b50, b99, w50, w99, float64(w99)/float64(b99))
	// The black hole's timeout is 60 s: had it held anything up (head-of-line blocking, a
	// shared pool), healthy deliveries would wait that long and the run would time out
	// (every delivery must arrive within 20 s). The figures themselves are logged, not
	// asserted: on shared CI disks a single fsync can take a second.
	if w99 >= 20*time.Second {
		t.Fatalf("healthy p99 with a black hole %v (without: %v)", w99, b99)
	}
}
