package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// transport is the client's http.RoundTripper: HTTP/1.1 over keep-alive connections, where
// the goroutine that calls RoundTrip writes the request and reads the response on the
// connection itself. net/http's Transport gives every connection a reading and a writing
// goroutine and passes each request and response between them and the caller over
// channels; with thousands of deliveries a second on a busy machine those hand-offs (three
// or four goroutine wake-ups a request) cost more CPU than the request itself. The wire
// format stays the standard library's: requests are written by (*http.Request).Write and
// responses parsed by http.ReadResponse.
//
// Each connection belongs to one goroutine at a time: the RoundTrip that took it, then the
// response body until it reaches its end (the connection goes back to the idle pool) or is
// closed early (the connection is closed). The pool is guarded by mu.
type transport struct {
	dial             dialFunc    // the guarded dialer
	tlsConfig        *tls.Config // cloned for each TLS connection
	handshakeTimeout time.Duration
	maxIdlePerHost   int
	idleTimeout      time.Duration
	maxHeaderBytes   int64

	mu    sync.Mutex
	idle  map[string][]*conn // by scheme and address; the most recently used last
	sweep *time.Timer        // closes expired idle connections; nil while none are idle
}

// conn is one connection and its buffers.
type conn struct {
	key       string
	nc        net.Conn
	cr        *connReader
	br        *bufio.Reader
	bw        *bufio.Writer
	tls       *tls.ConnectionState
	idleSince time.Time
	reused    bool // it carried a request before this one
}

var (
	errHeadTooLarge   = errors.New("egress: response head too large")
	errBodyClosed     = errors.New("egress: read on a closed response body")
	errTooManyInterim = errors.New("egress: too many 1xx responses")
	// aLongTimeAgo is a deadline that unblocks a connection's reads and writes at once.
	aLongTimeAgo = time.Unix(1, 0)
)

// RoundTrip sends req on an idle connection to its host, or a new one, and returns the
// response; its body owns the connection until it is read to the end or closed. A request
// that fails on a reused connection before any byte of a response arrived (the server had
// closed the idle connection) is sent once more on a newly dialed connection, if its body
// can be read again: deliveries are at-least-once and carry a stable id for receivers to drop
// repeats.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	u := req.URL
	if u == nil {
		closeBody()
		return nil, errors.New("egress: request without a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		closeBody()
		return nil, fmt.Errorf("egress: unsupported protocol scheme %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		closeBody()
		return nil, errors.New("egress: URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	key := u.Scheme + "://" + addr
	ctx := req.Context()
	for try := 0; ; try++ {
		// The resend dials: the other idle connections to the host may be as stale.
		pc, err := t.get(ctx, key, u.Scheme == "https", addr, host, try > 0)
		if err != nil {
			closeBody()
			return nil, err
		}
		resp, stale, err := t.exchange(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		if !stale || try > 0 || ctx.Err() != nil || (req.Body != nil && req.GetBody == nil) {
			return nil, err
		}
		again := *req
		if req.Body != nil {
			if again.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		req = &again
	}
}

// exchange writes req on pc and reads the response head. On an error the connection is
// closed; stale reports that it failed as a connection the server had closed does.
func (t *transport) exchange(ctx context.Context, pc *conn, req *http.Request) (_ *http.Response, stale bool, _ error) {
	deadline, _ := ctx.Deadline()
	if err := pc.nc.SetDeadline(deadline); err != nil {
		pc.nc.Close()
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { pc.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		pc.nc.Close()
		stale := pc.reused && pc.cr.read == 0 && staleError(err)
		return nil, stale, contextError(ctx, err)
	}
	pc.cr.read, pc.cr.limit = 0, t.maxHeaderBytes
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	var resp *http.Response
	for interim := 0; ; interim++ {
		var err error
		if resp, err = http.ReadResponse(pc.br, req); err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if interim == 5 {
			return fail(errTooManyInterim)
		}
	}
	pc.cr.limit = -1
	resp.TLS = pc.tls
	b := &body{rc: resp.Body, t: t, pc: pc, ctx: ctx, stop: stop,
		keep: !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, false, nil
	}
	resp.Body = b
	return resp, false, nil
}

// staleError reports whether err is how a write or read fails on a connection the server
// has closed.
func staleError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// contextError returns the request context's error for an I/O error its end caused: the
// connection's deadline is the context's, and may pass a moment before the context notices.
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// get returns an idle connection for key, or dials a new one (always, if fresh).
func (t *transport) get(ctx context.Context, key string, useTLS bool, addr, host string, fresh bool) (*conn, error) {
	if fresh {
		return t.connect(ctx, key, useTLS, addr, host)
	}
	now := time.Now()
	var expired []*conn
	t.mu.Lock()
	list := t.idle[key]
	var pc *conn
	for len(list) > 0 && pc == nil {
		c := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if now.Sub(c.idleSince) >= t.idleTimeout {
			expired = append(expired, c)
			continue
		}
		pc = c
	}
	if len(list) == 0 {
		delete(t.idle, key)
	} else {
		t.idle[key] = list
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
	if pc != nil {
		return pc, nil
	}
	return t.connect(ctx, key, useTLS, addr, host)
}

// connect dials addr (through the guard) and, for https, makes the TLS handshake.
func (t *transport) connect(ctx context.Context, key string, useTLS bool, addr, host string) (*conn, error) {
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &conn{key: key, nc: nc}
	if useTLS {
		cfg := t.tlsConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		st := tc.ConnectionState()
		pc.nc, pc.tls = tc, &st
	}
	pc.cr = &connReader{nc: pc.nc, limit: -1}
	pc.br = bufio.NewReaderSize(pc.cr, 4<<10)
	pc.bw = bufio.NewWriterSize(pc.nc, 4<<10)
	return pc, nil
}

// put returns a connection whose response was read to the end to the idle pool.
func (t *transport) put(pc *conn) {
	pc.idleSince, pc.reused = time.Now(), true
	t.mu.Lock()
	list := t.idle[pc.key]
	if len(list) >= t.maxIdlePerHost {
		t.mu.Unlock()
		pc.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	t.idle[pc.key] = append(list, pc)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout/2, t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes the connections idle for idleTimeout or longer, and runs again every
// half idleTimeout while any are idle.
func (t *transport) sweepIdle() {
	now := time.Now()
	var expired []*conn
	t.mu.Lock()
	for key, list := range t.idle {
		keep := list[:0]
		for _, c := range list {
			if now.Sub(c.idleSince) >= t.idleTimeout {
				expired = append(expired, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = keep
		}
	}
	if len(t.idle) > 0 {
		t.sweep.Reset(t.idleTimeout / 2)
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every idle connection (http.Client.CloseIdleConnections calls it).
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
}

// connReader counts the bytes read from a connection and, while limit ≥ 0, stops at limit:
// it bounds a response head, which http.ReadResponse reads without a bound of its own.
type connReader struct {
	nc    net.Conn
	read  int64 // bytes read since the exchange began
	limit int64 // -1: none
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.limit >= 0 {
		if r.read >= r.limit {
			return 0, errHeadTooLarge
		}
		if rest := r.limit - r.read; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := r.nc.Read(p)
	r.read += int64(n)
	return n, err
}

// body is a response body that owns its connection: at its end the connection goes back
// to the pool, if the response allows; closed or failed before it, the connection closes.
type body struct {
	rc    io.ReadCloser // the body as http.ReadResponse framed it
	t     *transport
	pc    *conn
	ctx   context.Context
	stop  func() bool // stops the request context's deadline hook
	keep  bool        // the connection may carry another request after this response
	state atomic.Uint32
}

const (
	bodyOpen uint32 = iota
	bodyEnded
	bodyClosed
)

func (b *body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case bodyEnded:
		return 0, io.EOF
	case bodyClosed:
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		err = contextError(b.ctx, err)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end; it may be called while
// another goroutine reads (the read then fails).
func (b *body) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection once: to the pool after the body's end, if the response
// allows keep-alive and the request context did not end, else closed.
func (b *body) finish(ended bool) {
	next := bodyClosed
	if ended {
		next = bodyEnded
	}
	if !b.state.CompareAndSwap(bodyOpen, next) {
		return
	}
	// An idle connection keeps the deadline of its last request: nothing reads it then,
	// and the next exchange sets its own.
	if b.stop() && ended && b.keep {
		b.t.put(b.pc)
		return
	}
	b.pc.nc.Close()
}
