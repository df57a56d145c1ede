package chaos

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// misbehaving starts a receiver on 127.0.0.1 whose handler is h; it is closed at the end.
func misbehaving(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = nil
	s.Start()
	t.Cleanup(func() { s.CloseClientConnections(); s.Close() })
	return s
}

// hijack takes the raw connection of a request (after reading its body).
func hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter) {
	_, _ = io.Copy(io.Discard, r.Body)
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	return c, rw
}

// TestMisbehavingReceivers: endpoints whose receivers hang, reset the connection, trickle
// their status line byte by byte, answer an endless body, or redirect. Each first attempt
// ends within the endpoint's timeout and is recorded as a failure with its cause (the
// endless body as a success whose read stopped at the cap), nothing follows the redirect,
// and a healthy endpoint is delivered to at once all along.
func TestMisbehavingReceivers(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	var hugeWritten atomic.Int64
	var redirectHits atomic.Int64
	target := misbehaving(t, func(w http.ResponseWriter, r *http.Request) { redirectHits.Add(1) })
	receivers := map[string]*httptest.Server{
		"hang": misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}),
		"reset": misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
			c, _ := hijack(w, r)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			c.Close()
		}),
		"trickle": misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
			c, _ := hijack(w, r)
			defer c.Close()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
				select {
				case <-tick.C:
				case <-done:
					return
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		}),
		"huge": misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for range 1 << 15 { // up to 1 GiB
				n, err := w.Write(chunk)
				hugeWritten.Add(int64(n))
				if err != nil {
					return
				}
			}
		}),
		"redirect": misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
		}),
		"healthy": misbehaving(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }),
	}
	const timeout = 2 * time.Second
	eps := map[string]string{}
	for name, rc := range receivers {
		var ep struct{ ID string }
		s.Must(201, "POST", "/api/v1/endpoints", map[string]any{
			"url": rc.URL + "/" + name, "event_types": []string{chat.EventMessageSend}, "timeout_ms": timeout.Milliseconds(),
		}).JSON(t, &ep)
		eps[name] = ep.ID
	}
	newRoomHook(t, s, "r")
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "u", "text": "to every receiver"})
	type attempt struct {
		Status   string
		Attempts []chat.Attempt
	}
	first := func(name string) (attempt, bool) {
		var l struct{ Items []chat.Delivery }
		s.Must(200, "GET", "/api/v1/endpoints/"+eps[name]+"/deliveries", nil).JSON(t, &l)
		if len(l.Items) == 0 {
			return attempt{}, false
		}
		var d attempt
		s.Must(200, "GET", "/api/v1/deliveries/"+l.Items[0].ID, nil).JSON(t, &d)
		return d, len(d.Attempts) > 0
	}
	results := map[string]attempt{}
	apptest.Eventually(t, 4*timeout, "a first attempt at every endpoint", func() bool {
		for name := range receivers {
			if _, ok := results[name]; ok {
				continue
			}
			if d, ok := first(name); ok {
				results[name] = d
			}
		}
		return len(results) == len(receivers)
	})
	for name, d := range results {
		a := d.Attempts[0]
		t.Logf("%-8s delivery %s: status %d, %d ms, error %q", name, d.Status, a.StatusCode, a.LatencyMS, a.Error)
		if time.Duration(a.LatencyMS)*time.Millisecond > timeout+500*time.Millisecond {
			t.Errorf("%s: the attempt took %d ms, over the %v timeout", name, a.LatencyMS, timeout)
		}
		switch name {
		case "healthy":
			if d.Status != chat.DeliverySucceeded || a.LatencyMS > 1000 {
				t.Errorf("healthy endpoint: %s after %d ms", d.Status, a.LatencyMS)
			}
		case "huge":
			if d.Status != chat.DeliverySucceeded || a.StatusCode != 200 {
				t.Errorf("endless 200 body: %s %d", d.Status, a.StatusCode)
			}
		case "redirect":
			if d.Status == chat.DeliverySucceeded || a.StatusCode != http.StatusFound {
				t.Errorf("redirect: %s %d, want a failed attempt with 302", d.Status, a.StatusCode)
			}
		default: // hang, reset, trickle
			if d.Status == chat.DeliverySucceeded || a.Error == "" {
				t.Errorf("%s: %s with error %q, want a failed attempt with its cause", name, d.Status, a.Error)
			}
		}
	}
	if n := redirectHits.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	// The endless body was read only up to the cap: what the receiver managed to write is
	// the cap plus what the kernel's socket buffers held.
	if w := hugeWritten.Load(); w > 16<<20 {
		t.Errorf("the receiver wrote %d bytes of an endless body: the read is not capped", w)
	} else {
		t.Logf("endless body: the receiver could write %d KiB before the client stopped reading", w>>10)
	}
}
