package chaos

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the harness opens the crashed database file itself

	"github.com/chathooks/chathooks/internal/store/pgtest"
)

const adminToken = "chaos-admin-token"

// randN is a uniform random int in [0, n).
func randN(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// hook is one room's incoming webhook.
type hook struct{ room, id, token string }

// dialectPost builds a post of text through one of the four dialects of h on base.
func dialectPost(base string, h hook, dialect int, text string) (*http.Request, error) {
	var u, ctype string
	var body []byte
	switch dialect % 4 {
	case 0:
		u = base + "/incomingwebhooks/" + url.PathEscape(h.id) + "?token=" + url.QueryEscape(h.token)
		body, _ = json.Marshal(map[string]string{"Content": text})
		ctype = "application/json"
	case 1:
		u = base + "/v1/spaces/" + url.PathEscape(h.room) + "/messages?key=" + url.QueryEscape(h.id) + "&token=" + url.QueryEscape(h.token)
		body, _ = json.Marshal(map[string]string{"text": text})
		ctype = "application/json; charset=UTF-8"
	case 2:
		u = base + "/services/" + url.PathEscape(h.room) + "/" + url.PathEscape(h.id) + "/" + url.PathEscape(h.token)
		body, _ = json.Marshal(map[string]string{"text": text})
		ctype = "application/json"
	default:
		u = base + "/hooks/" + url.PathEscape(h.token)
		p, _ := json.Marshal(map[string]string{"text": text})
		body = []byte("payload=" + url.QueryEscape(string(p)))
		ctype = "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	return req, nil
}

// api calls the management API of base and decodes the JSON answer into out (if non-nil).
func api(base, method, path string, in, out any) (int, error) {
	return apiAs(adminToken, base, method, path, in, out)
}

// apiAs is api with another admin token.
func apiAs(token, base, method, path string, in, out any) (int, error) {
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+"/api/v1"+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// ledger records the fate of every post: acknowledged (2xx) or unknown (an error answer,
// or the connection died with the server), by its unique text; retried counts the posts
// with an idempotency key that were sent again after an unknown outcome.
type ledger struct {
	mu       sync.Mutex
	acked    map[string]string // text -> room
	unknown  map[string]string
	statuses map[int]int
	retried  int
}

func (l *ledger) record(text, room string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[status]++
	if status >= 200 && status < 300 {
		l.acked[text] = room
	} else {
		l.unknown[text] = room
	}
}

// crashLoop is one run of the harness.
type crashLoop struct {
	t      *testing.T
	hooks  []hook
	sinks  []*sink
	ledger ledger
	seq    atomic.Int64
	bases  []atomic.Pointer[string] // current URL of each node; nil while it is down
	// diagnose, if set, logs the state of the undelivered deliveries when delivery fails.
	diagnose func()
	token    string    // admin token of the servers ("" = adminToken)
	stopped  time.Time // when the load stopped
}

// idempotentTries bounds how often a post with an idempotency key is sent.
const idempotentTries = 20

// load posts from workers until stop closes, through every dialect, to random rooms of
// random live nodes. Every other post carries an Idempotency-Key (its text) and is sent
// again, to a random live node, while its outcome is unknown, as a client that retries
// safely does: whichever attempts committed, it must be stored once.
func (c *crashLoop) load(stop <-chan struct{}, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				base := c.bases[randN(len(c.bases))].Load()
				if base == nil {
					// The node is down: wait for it rather than spin.
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				h := c.hooks[randN(len(c.hooks))]
				text := fmt.Sprintf("crash-%d", c.seq.Add(1))
				idempotent := i%2 == 0
				status := 0
			send:
				for try := 0; try < idempotentTries; try++ {
					if try > 0 {
						// Again, to a live node (waiting for one is not a try).
						for base = c.bases[randN(len(c.bases))].Load(); base == nil; base = c.bases[randN(len(c.bases))].Load() {
							select {
							case <-stop:
								break send
							case <-time.After(5 * time.Millisecond):
							}
						}
						c.ledger.mu.Lock()
						c.ledger.retried++
						c.ledger.mu.Unlock()
					}
					req, err := dialectPost(*base, h, i, text)
					if err != nil {
						c.t.Error(err)
						return
					}
					if idempotent {
						req.Header.Set("Idempotency-Key", text)
					}
					status = 0
					if resp, err := client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						status = resp.StatusCode
					}
					if !idempotent || status >= 200 && status < 300 {
						break
					}
				}
				c.ledger.record(text, h.room, status)
			}
		}()
	}
	return &wg
}

// setup creates rooms with webhooks and one endpoint per format on a running node.
func (c *crashLoop) setup(base string, rooms int) {
	t := c.t
	if _, err := api(base, "POST", "/users", map[string]any{"id": "watcher", "name": "Watcher"}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range rooms {
		room := fmt.Sprintf("room-%02d", i)
		if _, err := api(base, "POST", "/rooms", map[string]any{"id": room, "name": room, "member_ids": []string{"watcher"}}, nil); err != nil {
			t.Fatal(err)
		}
		var wh struct{ ID, Token string }
		if _, err := api(base, "POST", "/rooms/"+room+"/webhooks", map[string]any{"name": "load"}, &wh); err != nil {
			t.Fatal(err)
		}
		c.hooks = append(c.hooks, hook{room: room, id: wh.ID, token: wh.Token})
	}
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	secrets := map[string]string{
		"standard": "whsec_" + base64.StdEncoding.EncodeToString(key),
		"sendbird": "sb-" + base64.RawURLEncoding.EncodeToString(key),
		"rbm":      "rbm-" + base64.RawURLEncoding.EncodeToString(key),
	}
	for _, f := range []string{"standard", "sendbird", "rbm"} {
		s := newSink(t, f, secrets[f])
		var ep struct{ Status string }
		if _, err := api(base, "POST", "/endpoints", map[string]any{
			"url": s.URL, "format": f, "secret": s.secret, "event_types": []string{"group_channel:message_send"}, "max_in_flight": 8,
		}, &ep); err != nil {
			t.Fatal(err)
		}
		if ep.Status != "active" {
			t.Fatalf("%s endpoint is %q after creation, want active", f, ep.Status)
		}
		c.sinks = append(c.sinks, s)
	}
}

// stored lists every message of every room: text -> message ids.
func (c *crashLoop) stored(base string) map[string][]string {
	t := c.t
	out := map[string][]string{}
	for _, h := range c.hooks {
		after := ""
		for {
			var page struct {
				Items []struct{ ID, Text string }
			}
			tok := c.token
			if tok == "" {
				tok = adminToken
			}
			if _, err := apiAs(tok, base, "GET", "/rooms/"+h.room+"/messages?limit=200&after="+url.QueryEscape(after), nil, &page); err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Items {
				out[m.Text] = append(out[m.Text], m.ID)
				after = m.ID
			}
			if len(page.Items) < 200 {
				break
			}
		}
	}
	return out
}

// verify runs the end checks once every node is back: exactly-once storage of acked
// posts, at-least-once delivery of every stored message to every endpoint (waiting as
// wait says) with one event id per message, and no bad signature.
func (c *crashLoop) verify(base string, wait drainWait, why string) {
	t := c.t
	st := c.stored(base)
	c.ledger.mu.Lock()
	acked, unknown := len(c.ledger.acked), len(c.ledger.unknown)
	lost, doubled := 0, 0
	for text := range c.ledger.acked {
		switch n := len(st[text]); {
		case n == 0:
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged post %q is not stored", text)
			}
		case n > 1:
			doubled++
			t.Errorf("acknowledged post %q is stored %d times", text, n)
		}
	}
	storedUnknown := 0
	for text := range c.ledger.unknown {
		switch n := len(st[text]); {
		case n == 1:
			storedUnknown++
		case n > 1:
			t.Errorf("post %q (answer lost in the crash) is stored %d times", text, n)
		}
	}
	statuses, retried := fmt.Sprint(c.ledger.statuses), c.ledger.retried
	c.ledger.mu.Unlock()
	var ids []string
	for text, ms := range st {
		if strings.HasPrefix(text, "crash-") {
			ids = append(ids, ms...)
		}
	}
	t.Logf("posts: %d acknowledged (lost %d, stored twice %d), %d unanswered (%d of them stored); statuses %s; %d sent again with their idempotency key; %d messages stored",
		acked, lost, doubled, unknown, storedUnknown, statuses, retried, len(ids))
	if lost > 0 {
		t.Errorf("%d acknowledged posts lost", lost)
	}

	c.awaitDelivery(ids, wait, why)
	for _, s := range c.sinks {
		s.mu.Lock()
		dupes := s.requests - len(s.events)
		for id, evs := range s.events {
			if s.format != "sendbird" && len(evs) != 1 {
				t.Errorf("%s endpoint: message %s arrived under %d different event ids", s.format, id, len(evs))
			}
		}
		if s.badSig > 0 || s.badBody > 0 {
			t.Errorf("%s endpoint: %d requests failed signature verification, %d had no message id", s.format, s.badSig, s.badBody)
		}
		t.Logf("%s endpoint: %d requests, %d distinct messages, %d duplicates (same event id)", s.format, s.requests, len(s.events), dupes)
		s.mu.Unlock()
	}
}

// drainWait says how long verify waits for the delivery backlog: as long as it keeps
// shrinking. The check fails when no new (message, endpoint) pair was delivered for
// stall, or when the whole wait passes stall + backlog × perDelivery, a floor of
// 1/perDelivery deliveries per second under which the drain counts as stuck however
// steadily it moves.
type drainWait struct {
	stall       time.Duration
	perDelivery time.Duration
}

// awaitDelivery waits until every sink has received every message of ids, as w allows,
// and logs the backlog it found, the time it took to drain and the drain rate.
func (c *crashLoop) awaitDelivery(ids []string, w drainWait, why string) {
	t := c.t
	began := time.Now()
	pending := make([][]string, len(c.sinks))
	backlog, requests := 0, 0
	for i, s := range c.sinks {
		pending[i] = s.pending(slices.Clone(ids))
		backlog += len(pending[i])
		requests -= s.requestCount()
	}
	limit := w.stall + time.Duration(backlog)*w.perDelivery
	t.Logf("delivery backlog %v after the load stopped: %d (message, endpoint) pairs of %d; waiting while it shrinks (no progress for %v, or past %v in all, fails)",
		began.Sub(c.stopped).Round(time.Millisecond), backlog, len(ids)*len(c.sinks), w.stall, limit.Round(time.Second))
	left, progressed := backlog, began
	nextLog := began.Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for left > 0 {
		<-tick.C
		now := time.Now()
		n := 0
		for i, s := range c.sinks {
			pending[i] = s.pending(pending[i]) // only the still-missing ids: the scan shrinks with the backlog
			n += len(pending[i])
		}
		if n < left {
			left, progressed = n, now
		}
		if left == 0 {
			break
		}
		if now.After(nextLog) {
			t.Logf("delivery backlog after %v: %d pairs left (%.0f deliveries/s so far)", now.Sub(began).Round(time.Second), left, float64(backlog-left)/now.Sub(began).Seconds())
			nextLog = now.Add(30 * time.Second)
		}
		stalled, over := now.Sub(progressed) > w.stall, now.Sub(began) > limit
		if !stalled && !over {
			continue
		}
		reason := fmt.Sprintf("no delivery for %v", w.stall)
		if !stalled {
			reason = fmt.Sprintf("the drain took longer than %v", limit.Round(time.Second))
		}
		for i, s := range c.sinks {
			if n := len(pending[i]); n > 0 {
				t.Errorf("%s endpoint: %d of %d stored messages not delivered, %s (%d of the backlog of %d delivered in %v; %s)",
					s.format, n, len(ids), reason, backlog-left, backlog, now.Sub(began).Round(time.Millisecond), why)
			}
		}
		if c.diagnose != nil {
			c.diagnose()
		}
		return
	}
	took := time.Since(began)
	for _, s := range c.sinks {
		requests += s.requestCount()
	}
	rate := 0.0
	if took > 0 {
		rate = float64(backlog) / took.Seconds()
	}
	t.Logf("every stored message delivered to every endpoint %v after the load stopped: backlog of %d pairs drained in %v, %.0f deliveries/s (%d requests meanwhile, %.0f/s)",
		time.Since(c.stopped).Round(time.Millisecond), backlog, took.Round(time.Millisecond), rate, requests, float64(requests)/max(took.Seconds(), 1e-9))
}

// killAtRandom waits a random moment, SIGKILLs p, and returns. Now and then the kill lands while
// the process is still starting (opening the database, migrating, releasing leases).
func killAtRandom(p *proc, early bool) {
	if early {
		select {
		case <-time.After(time.Duration(randN(150)) * time.Millisecond):
		case <-p.done:
		}
	} else {
		<-p.up
		select {
		case <-time.After(time.Duration(50+randN(450)) * time.Millisecond):
		case <-p.done:
		}
	}
	p.kill()
}

// integrityCheck opens the database a SIGKILLed server left behind and runs SQLite's
// integrity check on it.
func integrityCheck(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "chathooks.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check after a SIGKILL: %s", res)
	}
}

func serveArgs(extra ...string) []string {
	return append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-token", adminToken, "--allow-private-targets",
		"--room-rate-limit", "0", "--log-level", "warn"}, extra...)
}

// TestCrashLoopSQLite: one server on SQLite, SIGKILLed at random moments under load
// (posts through the four dialects to many rooms, deliveries to verifying receivers of the
// three formats) and restarted, -cycles times; the database file passes SQLite's integrity
// check after every kill, and the end checks of verify hold. The delivery check waits for
// the backlog as long as it shrinks (it grows with the cycles: every restart sends again what
// the killed process had in flight) and reports how fast it drained.
func TestCrashLoopSQLite(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash loop skipped in -short mode")
	}
	dir := t.TempDir()
	args := serveArgs("--data", dir)
	c := &crashLoop{t: t, ledger: ledger{acked: map[string]string{}, unknown: map[string]string{}, statuses: map[int]int{}}}
	c.bases = make([]atomic.Pointer[string], 1)
	p := start(t, args...)
	c.setup(p.url, 12)
	stop := make(chan struct{})
	wg := c.load(stop, 8)
	began := time.Now()
	for i := range *cycles {
		c.bases[0].Store(&p.url)
		killAtRandom(p, false)
		c.bases[0].Store(nil)
		integrityCheck(t, dir)
		if i%5 == 4 { // killed while starting: opening, migrating, releasing leases
			killAtRandom(spawn(t, args...), true)
			integrityCheck(t, dir)
		}
		p = start(t, args...)
	}
	c.bases[0].Store(&p.url)
	// A last stretch of load on the final process, then the checks.
	select {
	case <-time.After(300 * time.Millisecond):
	case <-p.done:
	}
	close(stop)
	wg.Wait()
	c.stopped = time.Now()
	t.Logf("%d SIGKILL cycles in %v", *cycles, time.Since(began).Round(time.Millisecond))
	// On SQLite a restarted server releases the leases of the killed one at start-up, so
	// everything is delivered without waiting for lease expiry.
	c.diagnose = func() {
		t.Logf("server log (warnings and errors):\n%s", p.stderr())
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "chathooks.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Log(err)
			return
		}
		defer db.Close()
		rows, err := db.Query(`SELECT status, lease_owner <> '', locked_until > 0, attempt_count, count(*) FROM deliveries WHERE status <> 'succeeded' GROUP BY 1, 2, 3, 4`)
		if err != nil {
			t.Log(err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var leased, locked bool
			var attempts, n int
			_ = rows.Scan(&status, &leased, &locked, &attempts, &n)
			t.Logf("undelivered: %d deliveries status=%s leased=%v locked=%v attempts=%d", n, status, leased, locked, attempts)
		}
	}
	c.verify(p.url, drainWait{stall: 30 * time.Second, perDelivery: 50 * time.Millisecond}, "SQLite releases a killed process's leases at start-up")
	p.kill()
	integrityCheck(t, dir)
}

// TestCrashLoopPostgres: two server nodes share a PostgreSQL database; one is SIGKILLed at
// random moments under load on both and restarted, -cycles times. The killed node's leased
// deliveries come back to the nodes after the documented lease (endpoint timeout 5 s + lease
// margin 30 s) and the idle re-scan (30 s): the final delivery check allows a pause that
// long between deliveries.
func TestCrashLoopPostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash loop skipped in -short mode")
	}
	dbURL := pgtest.URL(t)
	argsFor := func() []string { return serveArgs("--data", t.TempDir(), "--database-url", dbURL) }
	c := &crashLoop{t: t, ledger: ledger{acked: map[string]string{}, unknown: map[string]string{}, statuses: map[int]int{}}}
	c.bases = make([]atomic.Pointer[string], 2)
	steady := start(t, argsFor()...)
	c.setup(steady.url, 12)
	c.bases[1].Store(&steady.url)
	p := start(t, argsFor()...)
	stop := make(chan struct{})
	wg := c.load(stop, 8)
	began := time.Now()
	for i := range *cycles {
		c.bases[0].Store(&p.url)
		killAtRandom(p, false)
		c.bases[0].Store(nil)
		if i%5 == 4 {
			killAtRandom(spawn(t, argsFor()...), true)
		}
		p = start(t, argsFor()...)
	}
	c.bases[0].Store(&p.url)
	select {
	case <-time.After(300 * time.Millisecond):
	case <-p.done:
	}
	close(stop)
	wg.Wait()
	c.stopped = time.Now()
	t.Logf("%d SIGKILL cycles in %v", *cycles, time.Since(began).Round(time.Millisecond))
	// Deliveries may pause for the lease of the last kill (5 s + 30 s), one idle re-scan
	// (30 s), and slack for retries.
	c.verify(steady.url, drainWait{stall: 100 * time.Second, perDelivery: 50 * time.Millisecond}, "a killed node's leases expire after endpoint timeout + lease margin, then a re-scan takes them")
}
