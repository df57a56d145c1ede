package chaos

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
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
	var hooks []hook
	c := &crashLoop{t: t}
	for i := range 4 {
		room := fmt.Sprintf("disk-%d", i)
		if i == 0 {
			if _, err := api(p.url, "POST", "/users", map[string]any{"id": "u", "name": "U"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := api(p.url, "POST", "/rooms", map[string]any{"id": room, "name": room, "member_ids": []string{"u"}}, nil); err != nil {
			t.Fatal(err)
		}
		var wh struct{ ID, Token string }
		if _, err := api(p.url, "POST", "/rooms/"+room+"/webhooks", map[string]any{"name": "w"}, &wh); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, hook{room: room, id: wh.ID, token: wh.Token})
	}
	c.hooks = hooks
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
