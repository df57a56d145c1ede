package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
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
	// The endpoint's timeout outlasts any hold at the gate: the surviving nodes' requests
	// must wait there and succeed when it opens. A shorter timeout turns a slow machine's
	// long hold into failed attempts, a failed half-open probe of the circuit breaker into a
	// second failed attempt, and that delivery's next retry (5 minutes later) beyond the
	// deadline below. The lease is this timeout plus the margin (31s), well within it.
	code, ep := call(t, "POST", a+"/api/v1/endpoints", fmt.Sprintf(`{"url":%q,"event_types":["*"],"format":"standard","timeout_ms":30000}`, recv.URL))
	if code != 201 {
		t.Fatalf("endpoint: %d %v", code, ep)
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
	opened := time.Now()
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
			t.Logf("all %d events delivered %v after the gate opened; %d requests cut by the kill; %d duplicate deliveries (same event ids)",
				len(evs), time.Since(opened).Round(time.Millisecond), cut.Load(), dupes)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d committed events never delivered after a node was killed; their deliveries: %s",
				missing, len(evs), undelivered(st, ep["id"].(string), seen, &mu))
		}
		<-tick.C
	}

	// The survivors took the dead node's work when its leases expired, woken by the store's
	// next lease expiry, not by the periodic safety re-scan (which counts what it finds).
	for _, n := range alive {
		if found := rescanFound(t, n.url); found != 0 {
			t.Fatalf("node %s: the safety re-scan found %v deliveries no wake-up announced", n.url, found)
		}
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

// undelivered describes the deliveries of the events the receiver never saw: status,
// attempts and when the next attempt is due, so a failure says why they did not arrive.
func undelivered(st *sqlstore.Store, endpointID string, seen map[string]int, mu *sync.Mutex) string {
	ds, err := st.ListDeliveries(context.Background(), chat.DeliveryQuery{EndpointID: endpointID, Limit: 10000})
	if err != nil {
		return "(cannot list deliveries: " + err.Error() + ")"
	}
	mu.Lock()
	defer mu.Unlock()
	var b strings.Builder
	for _, d := range ds {
		if seen[d.EventID] > 0 {
			continue
		}
		fmt.Fprintf(&b, "\n\t%s (event %s): %s after %d attempts", d.ID, d.EventID, d.Status, d.AttemptCount)
		if d.NextAttemptAt != nil {
			fmt.Fprintf(&b, ", next attempt in %s", time.Until(*d.NextAttemptAt).Round(time.Second))
		}
	}
	return b.String()
}

// rescanFound reads chathooks_delivery_rescan_found_total from a node's /metrics.
func rescanFound(t *testing.T, base string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "chathooks_delivery_rescan_found_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("GET /metrics has no chathooks_delivery_rescan_found_total")
	return 0
}
