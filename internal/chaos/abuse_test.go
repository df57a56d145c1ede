package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
)

// newRoomHook creates a room with a webhook on an in-process test server.
func newRoomHook(t *testing.T, s *apptest.Server, room string) hook {
	t.Helper()
	s.Do("POST", "/api/v1/users", map[string]any{"id": "u", "name": "U"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": room, "name": room, "member_ids": []string{"u"}})
	var wh struct{ ID, Token string }
	s.Must(201, "POST", "/api/v1/rooms/"+room+"/webhooks", map[string]any{"name": "w"}).JSON(t, &wh)
	return hook{room: room, id: wh.ID, token: wh.Token}
}

// postOnce posts text through dialect and returns the answer and how long it took.
func postOnce(t *testing.T, client *http.Client, base string, h hook, dialect int, text string) (answer, time.Duration) {
	t.Helper()
	req, err := dialectPost(base, h, dialect, text)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	return readAnswer(resp), time.Since(began)
}

// slowConn opens a raw connection, writes head, then trickles one byte of trickle per
// second until the server closes the connection; it returns how long the server took.
func slowConn(t *testing.T, addr, head, trickle string, within time.Duration) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	began := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, err
	}
	closed := make(chan struct{})
	go func() { // the server's answer, if any, then EOF when it closes the connection
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(within)
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(began), nil
		case <-deadline:
			return time.Since(began), fmt.Errorf("connection still open after %v", within)
		case <-tick.C:
			_, _ = conn.Write([]byte{trickle[i%len(trickle)]})
		}
	}
}

// TestSlowloris: clients that send their headers, or their body, one byte a second are cut
// off by the server's header (10 s) and read (30 s) timeouts, while a well-behaved post is
// answered at once throughout.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("takes the server's 30 s read timeout")
	}
	s := apptest.Start(t, apptest.Options{})
	h := newRoomHook(t, s, "calm")
	addr := strings.TrimPrefix(s.URL, "http://")
	const attackers = 50
	type result struct {
		kind string
		took time.Duration
		err  error
	}
	results := make(chan result, 2*attackers)
	for i := range attackers {
		go func() {
			head := "POST /hooks/" + h.token + " HTTP/1.1\r\nHost: x\r\n"
			took, err := slowConn(t, addr, head, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 20*time.Second)
			results <- result{"headers", took, err}
		}()
		go func() {
			head := fmt.Sprintf("POST /hooks/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"text\":\"%d", h.token, i)
			took, err := slowConn(t, addr, head, "a", 45*time.Second)
			results <- result{"body", took, err}
		}()
	}
	// While the attack runs, ordinary posts are answered quickly.
	client := &http.Client{Timeout: 5 * time.Second}
	var worst time.Duration
	for i := range 10 {
		a, took := postOnce(t, client, s.URL, h, i, fmt.Sprintf("calm-%d", i))
		if a.status != http.StatusOK {
			t.Fatalf("ordinary post during slowloris: %d %s", a.status, a.body)
		}
		worst = max(worst, took)
	}
	var hdrMax, bodyMax time.Duration
	for range 2 * attackers {
		r := <-results
		if r.err != nil {
			t.Errorf("slow %s: %v", r.kind, r.err)
			continue
		}
		switch r.kind {
		case "headers":
			hdrMax = max(hdrMax, r.took)
			if r.took > 12*time.Second {
				t.Errorf("slow headers cut after %v, want about 10 s", r.took)
			}
		case "body":
			bodyMax = max(bodyMax, r.took)
			if r.took > 32*time.Second {
				t.Errorf("slow body cut after %v, want about 30 s", r.took)
			}
		}
	}
	t.Logf("%d slow-header and %d slow-body connections: cut after at most %v and %v; ordinary posts meanwhile: slowest %v",
		attackers, attackers, hdrMax.Round(10*time.Millisecond), bodyMax.Round(10*time.Millisecond), worst.Round(time.Millisecond))
}

// TestIdleKeepAliveConnections: hundreds of idle kept-alive connections do not stop the
// server from answering others promptly.
func TestIdleKeepAliveConnections(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	h := newRoomHook(t, s, "calm")
	addr := strings.TrimPrefix(s.URL, "http://")
	const idle = 500
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("after %d idle connections: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server refused to keep a connection alive")
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var lat []time.Duration
	for i := range 40 {
		a, took := postOnce(t, client, s.URL, h, i, fmt.Sprintf("with-idle-%d", i))
		if a.status != http.StatusOK {
			t.Fatalf("post with %d idle connections: %d %s", idle, a.status, a.body)
		}
		lat = append(lat, took)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d idle keep-alive connections held; 40 posts meanwhile: median %v, max %v", idle, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}

// TestStreamsBounded: a process serves at most --max-streams live streams; one more is
// answered 503 with the API's error body, and a place freed by a closed stream is reused.
func TestStreamsBounded(t *testing.T) {
	t.Parallel()
	const limit = 25
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.MaxStreams = limit }})
	newRoomHook(t, s, "r")
	open := func() (*http.Response, context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/rooms/r/stream", nil)
		req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		return resp, cancel, nil
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range limit {
		resp, cancel, err := open()
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, cancel)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
	}
	resp, cancel, err := open()
	if err != nil {
		t.Fatal(err)
	}
	a := readAnswer(resp)
	cancel()
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"code":"unavailable"`) {
		t.Fatalf("stream beyond the limit: %d %s, want 503 unavailable", a.status, a.body)
	}
	// Other requests are unaffected by the full stream table.
	s.Must(200, "GET", "/api/v1/rooms/r", nil)
	cancels[0]()
	cancels = cancels[1:]
	apptest.Eventually(t, 10*time.Second, "a freed stream place to be reused", func() bool {
		resp, cancel, err := open()
		if err != nil {
			return false
		}
		if resp.StatusCode == http.StatusOK {
			cancels = append(cancels, cancel)
			return true
		}
		_ = readAnswer(resp)
		cancel()
		return false
	})
}

// TestFloodOneRoom: many clients flood one room through every dialect; they get 429s in
// their dialect's shape with Retry-After, while another room's steady poster (within the
// rate) gets every post accepted without slowing down.
func TestFloodOneRoom(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.RoomRateLimit, c.RoomRateBurst = 1, 1 }})
	hot := newRoomHook(t, s, "hot")
	calm := newRoomHook(t, s, "calm")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Baseline of the calm room alone.
	base, _ := postOnce(t, client, s.URL, calm, 1, "calm-baseline")
	if base.status != http.StatusOK {
		t.Fatalf("baseline: %d %s", base.status, base.body)
	}
	var ok, limited, bad atomic.Int64
	floodBegan := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := dialectPost(s.URL, hot, i, fmt.Sprintf("flood-%d-%d", w, i))
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				a := readAnswer(resp)
				switch {
				case a.status == http.StatusOK:
					ok.Add(1)
				case a.status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" && checkShape(i, a) == nil:
					limited.Add(1)
				default:
					if bad.Add(1) < 5 {
						t.Errorf("flood answer: %d %q Retry-After=%q: %v", a.status, a.body, resp.Header.Get("Retry-After"), checkShape(i, a))
					}
				}
			}
		}()
	}
	// The calm room posts 1.1 s after each answer (so the server sees its posts at least
	// 1.1 s apart, within the 1/s limit, however slow an answer) during the flood.
	var calmLat []time.Duration
	calmOK := 0
	for i := range 4 {
		pace := time.NewTimer(1100 * time.Millisecond)
		<-pace.C
		a, took := postOnce(t, client, s.URL, calm, i, fmt.Sprintf("calm-%d", i))
		if a.status != http.StatusOK {
			t.Errorf("calm room post %d during the flood: %d %s", i, a.status, a.body)
		} else {
			calmOK++
		}
		calmLat = append(calmLat, took)
	}
	close(stop)
	wg.Wait()
	sort.Slice(calmLat, func(i, j int) bool { return calmLat[i] < calmLat[j] })
	if calmLat[len(calmLat)-1] > time.Second {
		t.Errorf("calm room slowed by the flood: slowest post %v", calmLat[len(calmLat)-1])
	}
	flood := time.Since(floodBegan)
	if ok.Load() > int64(flood/time.Second)+2 || limited.Load() == 0 {
		t.Errorf("flood: %d accepted, %d limited over %v at 1/s", ok.Load(), limited.Load(), flood)
	}
	t.Logf("flood of one room by 16 clients for %v: %d accepted, %d answered 429 (dialect shape, Retry-After), %d other; calm room: %d/4 accepted, slowest %v",
		flood.Round(10*time.Millisecond), ok.Load(), limited.Load(), bad.Load(), calmOK, calmLat[len(calmLat)-1].Round(time.Microsecond))
}
