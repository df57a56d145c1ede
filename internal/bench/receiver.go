package bench

import (
	"bufio"
	"bytes"
	"context"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver is a local webhook endpoint: healthy (answers 200 after an optional delay),
// black hole (never answers) or failing (answers 500). It shares the cores with the server
// it measures, so it answers from a plain HTTP/1.1 loop a connection (requests parsed by
// http.ReadRequest) rather than net/http's server, whose per-request machinery (a context,
// a response writer, a goroutine that watches the connection while the handler runs) cost
// more CPU than the server's own work on a delivery.
type Receiver struct {
	Mode  string // "ok", "blackhole", "500"
	URL   string
	ln    net.Listener
	delay time.Duration
	sent  *SendTimes
	lat   *Latencies
	got   atomic.Int64
	dupes atomic.Int64
	// seen holds a hash of every webhook-id received (duplicates), seeded per receiver.
	seenMu sync.Mutex
	seen   map[uint64]struct{}
	seed   maphash.Seed
	// conns are the open connections, closed by Close; wg counts their goroutines and the
	// accepting one.
	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
	stopped chan struct{} // closed by Close: ends healthy receivers' delays
}

// SendTimes holds when each measured post was due, by its token, for the receivers to
// measure post→receiver latency. It holds every post of a run, so it is a map of integers
// under a mutex: a map without pointers costs the garbage collector nothing to scan. (As
// sync.Maps of strings, these and the receivers' webhook ids held 17.5 MB of the live heap
// after 20 s at 2,000 posts/s × 4, and the garbage collector's share of the CPU the run
// measures grew with them.)
type SendTimes struct {
	mu sync.Mutex
	m  map[uint64]int64 // token → Unix nanoseconds
}

// Store records when post token was due.
func (s *SendTimes) Store(token uint64, t time.Time) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[uint64]int64{}
	}
	s.m[token] = t.UnixNano()
	s.mu.Unlock()
}

// Load returns when post token was due.
func (s *SendTimes) Load(token uint64) (time.Time, bool) {
	s.mu.Lock()
	ns, ok := s.m[token]
	s.mu.Unlock()
	return time.Unix(0, ns), ok
}

// postToken finds the number the load generator puts in every post's text ("chbench:N;"),
// stored with the post's send time before it is sent (a delivery can beat the post's own
// response); false if there is none.
func postToken(body []byte) (uint64, bool) {
	const mark = "chbench:"
	i := bytes.Index(body, []byte(mark))
	if i < 0 {
		return 0, false
	}
	var n uint64
	digits := 0
	for _, c := range body[i+len(mark):] {
		switch {
		case c >= '0' && c <= '9' && digits < 19:
			n = 10*n + uint64(c-'0')
			digits++
		case c == ';' && digits > 0:
			return n, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// StartReceiver listens on 127.0.0.1:0.
func StartReceiver(mode string, delay time.Duration, sent *SendTimes, lat *Latencies) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{Mode: mode, ln: ln, delay: delay, sent: sent, lat: lat, URL: "http://" + ln.Addr().String() + "/hook",
		seen: map[uint64]struct{}{}, seed: maphash.MakeSeed(), conns: map[net.Conn]struct{}{}, stopped: make(chan struct{})}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// accept serves each connection in a goroutine of its own until the listener closes.
func (r *Receiver) accept() {
	defer r.wg.Done()
	// The receivers' goroutines show apart from the server's in CPU profiles
	// (pprof -tagfocus bench=receiver).
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("bench", "receiver")))
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.connsMu.Lock()
		if r.closed {
			r.connsMu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.connsMu.Unlock()
		go r.serve(c)
	}
}

// The receivers' answers, whole.
var (
	respOK  = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	resp500 = []byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
	respBad = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

const (
	bodyMax  = 1 << 20          // the most of a request body a receiver keeps
	headWait = 10 * time.Second // how long a request may take to arrive once begun
)

// serve answers the requests of one connection in turn until it closes or a request says
// Connection: close. A black hole reads requests and never answers: the client gives up and
// closes, or Close does.
func (r *Receiver) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.connsMu.Lock()
		delete(r.conns, c)
		r.connsMu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	var body bytes.Buffer
	for {
		// A request must arrive whole within headWait of the first byte; an idle
		// keep-alive connection may wait for ever (Close ends it).
		if _, err := br.Peek(1); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(headWait))
		req, err := http.ReadRequest(br)
		if err != nil {
			c.Write(respBad)
			return
		}
		body.Reset()
		if _, err := body.ReadFrom(io.LimitReader(req.Body, bodyMax)); err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		resp := r.handle(req, body.Bytes())
		if resp == nil { // black hole, or closing
			_, _ = io.Copy(io.Discard, br)
			return
		}
		if _, err := c.Write(resp); err != nil || req.Close {
			return
		}
	}
}

// handle records one request and returns the response to send (nil: none, ever).
func (r *Receiver) handle(req *http.Request, body []byte) []byte {
	switch r.Mode {
	case "blackhole":
		return nil
	case "500":
		return resp500
	}
	if r.delay > 0 { // the answer time of a slow endpoint
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-r.stopped:
			t.Stop()
			return nil
		}
	}
	now := time.Now()
	if id := req.Header.Get("webhook-id"); id != "" {
		h := maphash.String(r.seed, id)
		r.seenMu.Lock()
		_, dup := r.seen[h]
		r.seen[h] = struct{}{}
		r.seenMu.Unlock()
		if dup {
			r.dupes.Add(1)
			return respOK
		}
	}
	// The latency is recorded before the delivery is counted: the run reads the latencies
	// once the count says everything arrived.
	if tok, ok := postToken(body); ok {
		if t, ok := r.sent.Load(tok); ok {
			r.lat.Add(now.Sub(t))
		}
	}
	r.got.Add(1)
	return respOK
}

// Requests is how many deliveries arrived, duplicates included.
func (r *Receiver) Requests() int64 { return r.got.Load() + r.dupes.Load() }

// Received is how many distinct events arrived.
func (r *Receiver) Received() int64 { return r.got.Load() }

// Close stops the receiver: it closes the listener and every connection (releasing
// black-holed requests) and waits for their goroutines.
func (r *Receiver) Close() {
	r.ln.Close()
	r.connsMu.Lock()
	if !r.closed {
		close(r.stopped)
	}
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.connsMu.Unlock()
	r.wg.Wait()
}
