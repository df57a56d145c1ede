package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// faultLoad posts continuously through every dialect to the rooms of hooks and records
// every answer: 2xx posts in the ledger, refusals checked for their dialect's shape, and
// the time of the latest 2xx.
type faultLoad struct {
	t       *testing.T
	base    string
	hooks   []hook
	ledger  ledger
	seq     atomic.Int64
	lastOK  atomic.Int64 // unix nanos of the latest 2xx answer's request start
	refused atomic.Int64
	errs    atomic.Int64
}

func newFaultLoad(t *testing.T, base string, hooks []hook) *faultLoad {
	return &faultLoad{t: t, base: base, hooks: hooks, ledger: ledger{acked: map[string]string{}, unknown: map[string]string{}, statuses: map[int]int{}}}
}

func (l *faultLoad) run(stop <-chan struct{}, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += workers {
				select {
				case <-stop:
					return
				default:
				}
				h := l.hooks[i%len(l.hooks)]
				text := fmt.Sprintf("fault-%d", l.seq.Add(1))
				req, _ := dialectPost(l.base, h, i, text)
				began := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					l.errs.Add(1)
					l.ledger.record(text, h.room, 0)
					continue
				}
				a := readAnswer(resp)
				l.ledger.record(text, h.room, a.status)
				if a.status >= 200 && a.status < 300 {
					for {
						prev := l.lastOK.Load()
						if began.UnixNano() <= prev || l.lastOK.CompareAndSwap(prev, began.UnixNano()) {
							break
						}
					}
					continue
				}
				l.refused.Add(1)
				if err := checkShape(i, a); err != nil || a.status != http.StatusServiceUnavailable {
					l.t.Errorf("refusal during the fault: %v (status %d)", err, a.status)
				}
			}
		}()
	}
	return &wg
}

// recovered waits until a post that started after since was answered 2xx and returns
// how long after since that post started.
func (l *faultLoad) recovered(within time.Duration, since time.Time, what string) time.Duration {
	l.t.Helper()
	apptest.Eventually(l.t, within, what, func() bool { return l.lastOK.Load() > since.UnixNano() })
	return time.Duration(l.lastOK.Load() - since.UnixNano())
}

// checkStored verifies every acknowledged post is stored exactly once.
func (l *faultLoad) checkStored(base, token string) (acked int) {
	c := &crashLoop{t: l.t, hooks: l.hooks, token: token}
	st := c.stored(base)
	l.ledger.mu.Lock()
	defer l.ledger.mu.Unlock()
	for text := range l.ledger.acked {
		if n := len(st[text]); n != 1 {
			l.t.Errorf("acknowledged post %q stored %d times", text, n)
		}
	}
	for text := range l.ledger.unknown {
		if n := len(st[text]); n > 1 {
			l.t.Errorf("refused post %q stored %d times", text, n)
		}
	}
	return len(l.ledger.acked)
}

// TestPostgresConnectionsKilledUnderLoad: under load through every dialect, the server
// process of PostgreSQL behind every connection of the node (writers, read pool, limiter
// pool, LISTEN) is terminated, five times. Posts in flight are answered 503 in their
// dialect's shape, service resumes without a restart, readiness is 200 again, and every
// acknowledged post is stored exactly once. The shared PostgreSQL server stays up: the
// node's connections are found by their application_name.
func TestPostgresConnectionsKilledUnderLoad(t *testing.T) {
	t.Parallel()
	appName := fmt.Sprintf("chaos-pgkill-%d", time.Now().UnixNano())
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.DatabaseURL = u.String() }})
	var hooks []hook
	for i := range 8 {
		hooks = append(hooks, newRoomHook(t, s, fmt.Sprintf("pg-%d", i)))
	}
	l := newFaultLoad(t, s.URL, hooks)
	stop := make(chan struct{})
	wg := l.run(stop, 6)
	admin, err := pgx.Connect(context.Background(), os.Getenv(pgtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var worst time.Duration
	for round := range 5 {
		l.recovered(30*time.Second, time.Now(), "posts accepted before the kill")
		var killed int
		if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		took := l.recovered(30*time.Second, at, "posts accepted after the kill")
		worst = max(worst, took)
		t.Logf("round %d: %d backends terminated; first accepted post started %v later", round, killed, took.Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	if r := s.DoRaw("GET", "/readyz", nil); r.Status != http.StatusOK {
		t.Fatalf("readyz after the kills: %d %s", r.Status, r.Body)
	}
	acked := l.checkStored(s.URL, apptest.AdminToken)
	t.Logf("5 kills of every backend of the node: %d posts acknowledged (all stored once), %d refused 503 in the dialect's shape, %d transport errors; slowest recovery %v",
		acked, l.refused.Load(), l.errs.Load(), worst.Round(time.Millisecond))
}

// setFileSizeLimit sets RLIMIT_FSIZE of process pid (prlimit(2)): no file the process
// writes can grow past limit bytes, writes beyond fail with EFBIG. To SQLite this is a full
// disk: the WAL and the database file cannot grow.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_FSIZE), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit: %v", errno)
	}
}

// TestSQLiteDiskFull: a server process on SQLite whose files can no longer grow (its
// RLIMIT_FSIZE lowered below the size of its WAL, which is how a full disk looks to SQLite:
// every write fails with EFBIG) answers posts 503 in each dialect's shape and /readyz 503;
// when the limit is lifted ("space returns") it accepts posts again without a restart, and
// every acknowledged post is stored once in a database that passes the integrity check.
func TestSQLiteDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, serveArgs("--data", dir)...)
	hooks := childHooks(t, p.url, "disk", 4)
	l := newFaultLoad(t, p.url, hooks)
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(i int) answer {
		text := fmt.Sprintf("fault-%d", l.seq.Add(1))
		req, _ := dialectPost(p.url, hooks[i%len(hooks)], i, text)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		a := readAnswer(resp)
		l.ledger.record(text, hooks[i%len(hooks)].room, a.status)
		return a
	}
	for i := range 40 {
		if a := post(i); a.status != http.StatusOK {
			t.Fatalf("post before the fault: %d %s", a.status, a.body)
		}
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, 4096)
	full := 0
	for i := range 8 {
		a := post(i)
		if err := checkShape(i, a); err != nil || a.status != http.StatusServiceUnavailable {
			t.Errorf("post with the disk full: %d %q: %v", a.status, a.body, err)
		}
		full++
	}
	r, err := http.Get(p.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(r); a.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the disk full: %d %s", a.status, a.body)
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, ^uint64(0))
	freed := time.Now()
	var first time.Duration
	apptest.Eventually(t, 30*time.Second, "posts accepted once space returns", func() bool {
		if post(0).status == http.StatusOK {
			first = time.Since(freed)
			return true
		}
		return false
	})
	for i := range 20 {
		if a := post(i); a.status != http.StatusOK {
			t.Fatalf("post after recovery: %d %s", a.status, a.body)
		}
	}
	if r, err := http.Get(p.url + "/readyz"); err != nil || readAnswer(r).status != http.StatusOK {
		t.Errorf("readyz after recovery: %v", err)
	}
	acked := l.checkStored(p.url, adminToken)
	p.stop()
	integrityCheck(t, dir)
	t.Logf("disk full (RLIMIT_FSIZE 4096 on the server process): %d posts answered 503 in their dialect's shape, readyz 503; space back: first post accepted after %v; %d acknowledged posts stored once; integrity ok",
		full, first.Round(time.Microsecond), acked)
}

// pgProxy forwards TCP connections to PostgreSQL and can play a server outage: down()
// drops every open connection and refuses new ones (accepted, then closed at once, as a
// stopped server's port would) until up(). The shared PostgreSQL server itself is never
// touched. conns holds the open connection pairs; mu guards it and isDown.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	isDown bool
	conns  map[net.Conn]net.Conn
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.down() })
	return p
}

// serve accepts until the listener closes; one goroutine pair copies each connection.
func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.isDown {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = s
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close() }()
		go func() { _, _ = io.Copy(c, s); c.Close() }()
	}
}

func (p *pgProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	for c, s := range p.conns {
		c.Close()
		s.Close()
	}
	clear(p.conns)
}

func (p *pgProxy) up() {
	p.mu.Lock()
	p.isDown = false
	p.mu.Unlock()
}

// TestPostgresOutageUnderLoad: the node reaches PostgreSQL through a proxy that plays the
// server being stopped for 3 s and started again, twice, under load through every dialect.
// During the outage posts are answered 503 in their dialect's shape and /readyz is 503; once
// the server is back, posts are accepted again without a restart, /readyz is 200, every
// acknowledged post is stored exactly once, and every acknowledged post is delivered.
func TestPostgresOutageUnderLoad(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.DatabaseURL = u.String() }})
	sk := newSink(t, "standard", "whsec_"+strings.Repeat("A", 32))
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": sk.URL, "format": "standard", "secret": sk.secret, "event_types": []string{"group_channel:message_send"}})
	var hooks []hook
	for i := range 4 {
		hooks = append(hooks, newRoomHook(t, s, fmt.Sprintf("out-%d", i)))
	}
	l := newFaultLoad(t, s.URL, hooks)
	stop := make(chan struct{})
	wg := l.run(stop, 4)
	var worst time.Duration
	for round := range 2 {
		since := time.Now()
		load := time.NewTimer(time.Second)
		<-load.C // a second of normal load, so deliveries are pending when the server goes
		l.recovered(30*time.Second, since, "posts accepted before the outage")
		proxy.down()
		downAt := time.Now()
		refusedBefore := l.refused.Load()
		apptest.Eventually(t, 10*time.Second, "posts refused during the outage", func() bool { return l.refused.Load() > refusedBefore })
		if r := s.DoRaw("GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable {
			t.Errorf("readyz during the outage: %d %s", r.Status, r.Body)
		}
		outage := time.NewTimer(3*time.Second - time.Since(downAt))
		<-outage.C // the outage lasts 3 s whatever the load does meanwhile
		proxy.up()
		upAt := time.Now()
		took := l.recovered(60*time.Second, upAt, "posts accepted after the server is back")
		worst = max(worst, took)
		apptest.Eventually(t, 30*time.Second, "readyz 200 after the outage", func() bool { return s.DoRaw("GET", "/readyz", nil).Status == http.StatusOK })
		t.Logf("outage %d: %d posts refused 503 so far; first accepted post started %v after the server was back", round, l.refused.Load(), took.Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	acked := l.checkStored(s.URL, apptest.AdminToken)
	c := &crashLoop{t: t, hooks: hooks, sinks: []*sink{sk}, token: apptest.AdminToken}
	// Every acknowledged post is delivered. A post refused during the outage may still have
	// committed (its COMMIT went through, the answer did not): its deliveries are leased to
	// this node but were never handed to its engine; the node renews only the leases it
	// holds, so those end and the engine claims them back. They are delivered too.
	var ids, unconfirmed []string
	l.ledger.mu.Lock()
	for text, ms := range c.stored(s.URL) {
		if _, ok := l.ledger.acked[text]; ok {
			ids = append(ids, ms...)
		} else if strings.HasPrefix(text, "fault-") {
			unconfirmed = append(unconfirmed, ms...)
		}
	}
	l.ledger.mu.Unlock()
	// Deliveries whose outcome could not be recorded during an outage are attempted again
	// by the engine that holds them.
	waitFrom := time.Now()
	apptest.Eventually(t, 120*time.Second, "every acknowledged post delivered after the outages", func() bool { return sk.missing(ids) == 0 })
	apptest.Eventually(t, 120*time.Second, "every post refused although committed delivered", func() bool { return sk.missing(unconfirmed) == 0 })
	t.Logf("posts refused while their write committed: %d stored, all delivered %v after the load stopped", len(unconfirmed), time.Since(waitFrom).Round(time.Millisecond))
	t.Logf("two 3 s outages under load: %d posts acknowledged (stored once, all %d delivered %v after the load stopped), %d refused 503 in the dialect's shape, %d transport errors; slowest recovery %v",
		acked, len(ids), time.Since(waitFrom).Round(time.Millisecond), l.refused.Load(), l.errs.Load(), worst.Round(time.Millisecond))
}
