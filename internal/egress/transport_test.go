package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer accepts connections on 127.0.0.1 and hands each to serve with its number
// (from 1), so a test controls every byte a server sends and when it closes.
func rawServer(t *testing.T, serve func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	// The cleanup closes what is still open, so that a test that failed while a client
	// and a handler waited on each other ends rather than hangs.
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// silentServer reads one request on each connection, answers it with answer (nothing if
// empty), and then waits: gone is closed once the client closes a connection.
func silentServer(t *testing.T, answer string) (url string, gone <-chan struct{}) {
	t.Helper()
	closed := make(chan struct{})
	var once sync.Once
	url = rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		if _, _, err := readRequest(br); err != nil {
			return
		}
		if answer != "" {
			io.WriteString(c, answer)
		}
		if _, err := br.ReadByte(); err != nil { // blocks until the client closes
			once.Do(func() { close(closed) })
		}
	})
	return url, closed
}

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
}

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Responses read to their end leave the connection for the next request; one closed early
// takes its connection with it.
func TestTransportKeepAlive(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", string(b))
		io.WriteString(w, strings.Repeat("x", 10_000)) // more than one read of the connection
	}))
	c := NewClient(Options{AllowPrivate: true})
	for i := range 20 {
		resp, err := post(t, c, srv.URL, fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Seen"); got != fmt.Sprint(i) || len(readAll(t, resp)) != 10_000 {
			t.Fatalf("request %d: server saw %q", i, got)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("20 requests in a row used %d connections, want 1", n)
	}
	resp, err := post(t, c, srv.URL, "early")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // nothing read: the rest of the response is still on the connection
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Fatalf("read after close: %v", err)
	}
	resp, err = post(t, c, srv.URL, "after")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Seen"); got != "after" {
		t.Fatalf("after an early close the server saw %q", got)
	}
	readAll(t, resp)
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("after an early close: %d connections, want 2", n)
	}
}

// Many goroutines at once, each request on a connection of its own at a time.
func TestTransportConcurrent(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	c := NewClient(Options{AllowPrivate: true, MaxIdleConnsPerHost: 8})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("%d/%d", g, i)
				resp, err := post(t, c, srv.URL, want)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("sent %q, echoed %q (%v)", want, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.requests.Load(); n != 32*50 {
		t.Fatalf("server saw %d requests, want %d", n, 32*50)
	}
	idle := 0
	for _, l := range c.Transport.(*transport).idle {
		idle += len(l)
	}
	if idle > 8 {
		t.Fatalf("%d idle connections kept, want at most 8", idle)
	}
}

// A server that closed a kept-alive connection: the request goes once more, whole, on a new
// connection.
func TestTransportStaleConnection(t *testing.T) {
	closed := make(chan struct{})
	var bodies sync.Map // connection number → bodies it received
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_, body, err := readRequest(br)
			if err != nil {
				return
			}
			v, _ := bodies.LoadOrStore(n, new([]string))
			*v.(*[]string) = append(*v.(*[]string), body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			if n == 1 {
				c.Close() // without Connection: close, as an idle timeout does
				close(closed)
				return
			}
		}
	})
	c := NewClient(Options{AllowPrivate: true})
	t.Cleanup(c.CloseIdleConnections) // before the server waits for its connections to end
	resp, err := post(t, c, url, "first")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	<-closed
	resp, err = post(t, c, url, "second")
	if err != nil {
		t.Fatalf("request on a connection the server closed: %v", err)
	}
	if got := readAll(t, resp); got != "ok" {
		t.Fatalf("response %q", got)
	}
	got := map[int][]string{}
	bodies.Range(func(k, v any) bool { got[k.(int)] = *v.(*[]string); return true })
	if len(got[1]) != 1 || got[1][0] != "first" || len(got[2]) != 1 || got[2][0] != "second" {
		t.Fatalf("bodies by connection: %v", got)
	}
}

// A request whose context ends while the server says nothing fails with the context's
// error, and its connection is closed.
func TestTransportDeadline(t *testing.T) {
	url, gone := silentServer(t, "")
	c := NewClient(Options{AllowPrivate: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("x"))
	var err error
	returnsWithin(t, "a request to a silent server past its deadline", func() { _, err = c.Do(req) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	select {
	case <-gone:
	case <-time.After(testTimeout):
		t.Fatal("the connection was not closed")
	}

	// Cancelled while the body is being read.
	block := make(chan struct{})
	defer close(block)
	url = rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		<-block
	})
	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("x"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "abc" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cancel()
	returnsWithin(t, "a read of a body whose request was cancelled", func() { _, err = resp.Body.Read(buf) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

// returnsWithin runs f and fails the test if f has not returned within testTimeout: what
// it waits for is a deadline or a cancellation, and if that broke, the test would
// otherwise hang until the test binary's own timeout.
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("%s did not return within %v", what, testTimeout)
	}
}

// Framing the standard library does: interim 1xx responses skipped, chunked bodies, bodies
// that end with the connection (never reused), and a bound on the response head.
func TestTransportFraming(t *testing.T) {
	var conns atomic.Int32
	url := rawServer(t, func(_ int, c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/interim":
				fmt.Fprintf(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\ndone")
			case "/chunked":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
			case "/empty":
				fmt.Fprintf(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case "/until-close":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n\r\nall of it")
				return
			case "/huge-head":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("h", 70<<10))
			}
		}
	})
	c := NewClient(Options{AllowPrivate: true})
	t.Cleanup(c.CloseIdleConnections)
	for _, tc := range []struct{ path, body string }{
		{"/interim", "done"}, {"/chunked", "abcde"}, {"/empty", ""}, {"/chunked", "abcde"}, {"/until-close", "all of it"}, {"/interim", "done"},
	} {
		resp, err := post(t, c, url+tc.path, "x")
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got := readAll(t, resp); got != tc.body {
			t.Fatalf("%s: body %q, want %q", tc.path, got, tc.body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (a new one only after the body that ended with its connection)", n)
	}
	if _, err := post(t, c, url+"/huge-head", "x"); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("70 KiB response head: %v", err)
	}
}

// Idle connections are closed once they have been idle for the idle timeout.
func TestTransportIdleTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var open atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newTransport(Options{AllowPrivate: true}, nil)
	tr.idleTimeout = 50 * time.Millisecond
	c := &http.Client{Transport: tr}
	resp, err := post(t, c, srv.URL, "x")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	deadline := time.Now().Add(testTimeout)
	for open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was never closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 0 || tr.sweep != nil {
		t.Fatalf("pool after the sweep: %d hosts, sweep armed %v", len(tr.idle), tr.sweep != nil)
	}
}

// When the server closed every kept-alive connection (it restarted, say), the resend dials
// instead of trying the next idle connection, which is as stale as the first.
func TestTransportStaleConnectionsResendDials(t *testing.T) {
	var both sync.WaitGroup
	both.Add(2)
	closed := make(chan struct{}, 2)
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		if _, _, err := readRequest(br); err != nil {
			return
		}
		if n <= 2 {
			both.Done()
			both.Wait() // both connections carry a request at once: both go back to the pool
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			c.Close()
			closed <- struct{}{}
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
	})
	c := NewClient(Options{AllowPrivate: true})
	t.Cleanup(c.CloseIdleConnections)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := post(t, c, url, "x"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	<-closed
	<-closed
	if n := len(c.Transport.(*transport).idle); n != 1 {
		t.Fatalf("%d hosts in the pool, want the one with two stale connections", n)
	}
	resp, err := post(t, c, url, "again")
	if err != nil {
		t.Fatalf("after the server closed every connection: %v", err)
	}
	if got := readAll(t, resp); got != "fresh" {
		t.Fatalf("answer %q, want the new connection's", got)
	}
}

// readEntered is a connection that reports each Read as it begins.
type readEntered struct {
	net.Conn
	entered chan struct{}
}

func (c readEntered) Read(p []byte) (int, error) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	return c.Conn.Read(p)
}

// Closing a body while another goroutine is reading it (the connection's Read has begun,
// with nothing more coming) ends the read at once and closes the connection.
func TestTransportCloseDuringRead(t *testing.T) {
	url, gone := silentServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
	entered := make(chan struct{}, 16)
	tr := newTransport(Options{AllowPrivate: true}, func(next dialFunc) dialFunc {
		return func(ctx context.Context, network, address string) (net.Conn, error) {
			nc, err := next(ctx, network, address)
			if err != nil {
				return nil, err
			}
			// Should the test fail with the read still blocked, the server would wait for
			// this connection's end for ever: end it first (cleanups run last first).
			t.Cleanup(func() { nc.Close() })
			return readEntered{nc, entered}, nil
		}
	})
	c := &http.Client{Transport: tr}
	resp, err := post(t, c, url, "x")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "part" {
		t.Fatalf("read %q, %v", buf, err)
	}
	for len(entered) > 0 { // the reads that brought the head and "part"
		<-entered
	}
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10)) // 96 more bytes are promised, none sent
		read <- err
	}()
	<-entered // the body's read is on the connection now
	resp.Body.Close()
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("a read across Close succeeded")
		}
	case <-time.After(testTimeout):
		t.Fatal("the blocked read did not end at Close")
	}
	select {
	case <-gone:
	case <-time.After(testTimeout):
		t.Fatal("the connection was not closed")
	}
	if n := len(tr.idle); n != 0 {
		t.Fatalf("%d hosts with idle connections after an early close", n)
	}
}
