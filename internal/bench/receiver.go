package bench

import (
	"bytes"
	"context"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver is a local webhook endpoint: healthy (answers 200 after an optional delay),
// black hole (never answers) or failing (answers 500).
type Receiver struct {
	Mode  string // "ok", "blackhole", "500"
	URL   string
	srv   *http.Server
	ln    net.Listener
	delay time.Duration
	sent  *SendTimes
	lat   *Latencies
	got   atomic.Int64
	dupes atomic.Int64
	// seen holds a hash of every webhook-id received (duplicates), seeded per receiver.
	seenMu  sync.Mutex
	seen    map[uint64]struct{}
	seed    maphash.Seed
	stopped chan struct{}
	// bodies are read buffers (*bytes.Buffer): the load side should cost as little as it
	// can, as it shares the cores with the server it measures.
	bodies sync.Pool
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
	r := &Receiver{Mode: mode, ln: ln, delay: delay, sent: sent, lat: lat, URL: "http://" + ln.Addr().String() + "/hook", stopped: make(chan struct{}),
		seen: map[uint64]struct{}{}, seed: maphash.MakeSeed()}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln) //nolint:errcheck // ends with Close
	return r, nil
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf, _ := r.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer r.bodies.Put(buf)
	buf.Reset()
	_, _ = buf.ReadFrom(io.LimitReader(req.Body, 1<<20))
	body := buf.Bytes()
	switch r.Mode {
	case "blackhole":
		select {
		case <-req.Context().Done():
		case <-r.stopped:
		}
		return
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	now := time.Now()
	id := req.Header.Get("webhook-id")
	if id != "" {
		h := maphash.String(r.seed, id)
		r.seenMu.Lock()
		_, dup := r.seen[h]
		r.seen[h] = struct{}{}
		r.seenMu.Unlock()
		if dup {
			r.dupes.Add(1)
			w.WriteHeader(http.StatusOK)
			return
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
	w.WriteHeader(http.StatusOK)
}

// Requests is how many deliveries arrived, duplicates included.
func (r *Receiver) Requests() int64 { return r.got.Load() + r.dupes.Load() }

// Received is how many distinct events arrived.
func (r *Receiver) Received() int64 { return r.got.Load() }

// Close stops the receiver, releasing black-holed requests.
func (r *Receiver) Close() {
	close(r.stopped)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	_ = r.srv.Close()
}
