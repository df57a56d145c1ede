package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// Three server processes share one PostgreSQL database: messages posted through all of
// them reach the endpoint even though one node is SIGKILLed mid-delivery (its leases
// expire and the others take its work), and the per-room rate limit holds across nodes.
func TestThreeNodesSharePostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)

	var mu sync.Mutex
	seen := map[string]int{}      // webhook-id -> deliveries
	var cut, pending atomic.Int64 // requests whose sender vanished; requests held at the gate
	gate := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Requests are held until the gate opens, so every node has deliveries in flight when
		// one is killed. The body is read first: only then does the server watch the
		// connection and cancel on a disconnect.
		_, _ = io.Copy(io.Discard, r.Body)
		pending.Add(1)
		select {
		case <-gate:
		case <-r.Context().Done():
			cut.Add(1)
			return
		}
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	args := func() []string {
		return []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--database-url", dbURL,
			"--admin-token", "tok", "--allow-private-targets", "--room-rate-limit", "1", "--room-rate-burst", "1",
			"--delivery-lease-margin", "1s", "--log-level", "error"}
	}
	nodes := []*child{startChild(t, args()...)}
	a := nodes[0].url
	if code, m := call(t, "POST", a+"/api/v1/endpoints", fmt.Sprintf(`{"url":%q,"event_types":["*"],"format":"standard","timeout_ms":1000}`, recv.URL)); code != 201 {
		t.Fatalf("endpoint: %d %v", code, m)
	}
	if code, m := call(t, "POST", a+"/api/v1/users", `{"id":"u","name":"U"}`); code != 201 {
		t.Fatalf("user: %d %v", code, m)
	}
	const rooms = 10
	for i := range rooms {
		if code, m := call(t, "POST", a+"/api/v1/rooms", fmt.Sprintf(`{"id":"r%d","name":"R","member_ids":["u"]}`, i)); code != 201 {
			t.Fatalf("room: %d %v", code, m)
		}
	}
	code, wh := call(t, "POST", a+"/api/v1/rooms/r0/webhooks", `{"name":"alerts"}`)
	if code != 201 {
		t.Fatalf("webhook: %d %v", code, wh)
	}
	chimeURL, _ := url.Parse(wh["urls"].(map[string]any)["chime"].(string))
	nodes = append(nodes, startChild(t, args()...), startChild(t, args()...))

	// 150 messages through the three nodes at once.
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%3]
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/rooms/r%d/messages", n.url, i%rooms),
				strings.NewReader(fmt.Sprintf(`{"sender_id":"u","text":"m%d"}`, i)))
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 201 {
				failed.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d posts failed", failed.Load())
	}
	// Kill node 1 while deliveries are in flight on every node (each lane holds up to
	// max_in_flight = 16 requests at the gate).
	apptest.Eventually(t, 30*time.Second, "deliveries in flight on the nodes", func() bool { return pending.Load() >= 40 })
	if err := nodes[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nodes[1].done
	apptest.Eventually(t, 10*time.Second, "the receiver to notice the killed node's requests", func() bool { return cut.Load() > 0 })
	close(gate)
	alive := []*child{nodes[0], nodes[2]}

	// Every committed event reaches the endpoint at least once.
	st := pgtest.OpenURL(t, dbURL)
	evs, _, err := st.Events(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 150 {
		t.Fatalf("only %d events committed", len(evs))
	}
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		mu.Lock()
		missing := 0
		for _, e := range evs {
			if seen[e.ID] == 0 {
				missing++
			}
		}
		dupes := 0
		for _, n := range seen {
			dupes += n - 1
		}
		mu.Unlock()
		if missing == 0 {
			t.Logf("all %d events delivered; %d requests cut by the kill; %d duplicate deliveries (same event ids)", len(evs), cut.Load(), dupes)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d committed events never delivered after a node was killed", missing, len(evs))
		}
		<-tick.C
	}

	// The room rate limit (1/s, burst 1) holds across the surviving nodes: hammer room r0's
	// webhook through both for about 2.5 seconds.
	var ok, throttled atomic.Int64
	start := time.Now()
	stop := start.Add(2500 * time.Millisecond)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := *chimeURL
			u.Host = strings.TrimPrefix(alive[w%2].url, "http://")
			for time.Now().Before(stop) {
				resp, err := http.Post(u.String(), "application/json", strings.NewReader(`{"Content":"alert"}`))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					if resp.Header.Get("Retry-After") == "" {
						t.Error("429 without Retry-After")
					}
					throttled.Add(1)
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if max := int64(elapsed) + 2; ok.Load() > max || ok.Load() < 2 || throttled.Load() == 0 {
		t.Fatalf("%d accepted (want 2..%d) and %d throttled in %.1fs through two nodes", ok.Load(), max, throttled.Load(), elapsed)
	}
	t.Logf("rate limit across nodes: %d accepted, %d throttled in %.1fs", ok.Load(), throttled.Load(), elapsed)
}
