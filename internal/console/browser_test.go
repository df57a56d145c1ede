package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// ScreenshotsEnv names the directory the browser tests write their screenshots to
// (default: a temporary directory removed after the test).
const ScreenshotsEnv = "CHATHOOKS_SCREENSHOTS"

// waitFor bounds every wait for the page to reach a state.
const waitFor = 20 * time.Second

// recorder collects what must never happen on a console page: dialogs (alert, confirm,
// prompt), console errors, uncaught exceptions, error log entries (CSP violations among
// them) and requests to any host but the server's.
type recorder struct {
	mu       sync.Mutex
	allowed  map[string]bool // hosts requests may go to
	problems []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *recorder) listen(ev any) {
	switch ev := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		r.add("dialog opened (%s): %q", ev.Type, ev.Message)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			r.add("console.%s: %s", ev.Type, strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		r.add("uncaught exception: %s", msg)
	case *log.EventEntryAdded:
		// Failed requests the test provokes on purpose (401 of a refused context) are
		// network entries; everything else logged as an error is a defect.
		if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
			r.add("log %s: %s", ev.Entry.Source, ev.Entry.Text)
		}
	case *network.EventRequestWillBeSent:
		u, err := url.Parse(ev.Request.URL)
		if err != nil || (u.Scheme != "data" && !r.allowedHost(u.Host)) {
			r.add("request to an unexpected host: %s", ev.Request.URL)
		}
	}
}

func (r *recorder) allowedHost(h string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.allowed[h]
}

// has reports whether a recorded problem contains sub.
func (r *recorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// reset forgets the problems recorded so far (after provoking them on purpose).
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = nil
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
	r.problems = nil
}

// browser is one headless Chromium for a test; tab opens pages in it.
type browser struct {
	t     *testing.T
	alloc context.Context
	shots string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required in CI (apt-get install -y chromium): %v", err)
		}
		t.Skipf("browser test skipped: %s not found (apt-get install -y chromium)", ChromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox, // tests often run as root in containers
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("force-prefers-reduced-motion", true),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, alloc: alloc, shots: dir}
}

// tab is one page with its own recorder. A tab made with fresh=true lives in a new browser
// context: no cookies or storage shared with the others.
type tab struct {
	t   *testing.T
	b   *browser
	ctx context.Context
	rec *recorder
}

func (b *browser) tab(parent *tab, fresh bool, allowed ...string) *tab {
	rec := &recorder{allowed: map[string]bool{}}
	for _, h := range allowed {
		rec.allowed[h] = true
	}
	parentCtx := b.alloc
	var opts []chromedp.ContextOption
	opts = append(opts, chromedp.WithListener(rec.listen))
	if parent != nil {
		parentCtx = parent.ctx
		if fresh {
			opts = append(opts, chromedp.WithNewBrowserContext())
		}
	}
	ctx, cancel := chromedp.NewContext(parentCtx, opts...)
	b.t.Cleanup(cancel)
	// The first run starts the browser (or the tab) for the context's whole life: it must
	// not have a timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("start chromium: %v", err)
	}
	tb := &tab{t: b.t, b: b, ctx: ctx, rec: rec}
	// A dialog blocks the page; the recorder has noted it, dismiss it so the test goes on.
	go func() {
		for _, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return tb
}

func (p *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JavaScript expression until it is truthy. Errors while polling (a page
// navigating away mid-evaluation) count as "not yet".
func (p *tab) wait(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		<-tick.C
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 2000)`))
	p.b.t.Logf("page when giving up:\n%s", body)
	p.rec.check(p.t)
	p.t.Fatalf("waiting for %s: still false after %v (last error: %v)", what, waitFor, last)
}

func (p *tab) str(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *tab) num(expr string) float64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *tab) run(expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr)); err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
}

func (p *tab) open(u string) {
	p.t.Helper()
	p.do("open "+u, chromedp.Navigate(u))
}

// clickDialog clicks the button of the open dialog with this label.
func (p *tab) clickDialog(label string) {
	p.t.Helper()
	p.wait("dialog button "+label, fmt.Sprintf(`[...document.querySelectorAll('dialog[open] button')].some(b => b.textContent === %q)`, label))
	p.run(fmt.Sprintf(`[...document.querySelectorAll('dialog[open] button')].find(b => b.textContent === %q).click()`, label))
}

// shot saves a screenshot of the viewport as name.png.
func (p *tab) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
}

func (p *tab) signIn(base string) {
	p.t.Helper()
	p.open(base + "/rooms")
	p.wait("the sign-in form", `!!document.querySelector('form input[name=token]')`)
	p.do("sign in",
		chromedp.SetValue(chromedp.CSS(`input[name=token]`), apptest.AdminToken),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	p.wait("the rooms page after sign-in", `!!document.querySelector('#new-room')`)
}

// receiver is a local endpoint that answers 200, or 500 while failing is set.
type receiver struct {
	*httptest.Server
	failing atomic.Bool
	hits    atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if r.failing.Load() {
			http.Error(w, "receiver is down for maintenance", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func post(t *testing.T, u, body string) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleFlow drives the console and the portal in Chromium through the whole flow an
// operator and an endpoint owner go through.
func TestConsoleFlow(t *testing.T) {
	b := newBrowser(t)
	s := apptest.Start(t, apptest.Options{})
	base := s.URL
	host := strings.TrimPrefix(base, "http://")
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice Martin"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "bob", "name": "Bob Chen"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "helpdesk", "name": "Helpdesk bot", "kind": "agent"})
	s.Must(200, "PUT", "/api/v1/users/alice/presence", map[string]any{"present": true})

	admin := b.tab(nil, false, host)
	admin.do("viewport", chromedp.EmulateViewport(1366, 900))
	admin.open(base + "/rooms")
	admin.wait("the sign-in form", `!!document.querySelector('form input[name=token]')`)
	admin.shot("signin")
	admin.signIn(base)

	// Create a room in the UI.
	admin.do("fill the room form",
		chromedp.SetValue(chromedp.CSS(`#room-name`), "Ops alerts"),
		chromedp.SetValue(chromedp.CSS(`#room-id`), "ops"))
	admin.run(`for (const c of document.querySelectorAll('#new-room input[name=member]')) c.checked = true`)
	admin.do("create the room", chromedp.Click(chromedp.CSS(`#new-room button[type=submit]`)))
	admin.wait("the room page", `location.pathname === '/rooms/ops' && !!document.querySelector('#composer')`)
	admin.wait("members with presence", `document.querySelectorAll('#members li .presence').length === 3 && document.querySelectorAll('#members .presence.on').length === 1`)

	// Create an incoming webhook and read its dialect URLs from the page.
	admin.do("open the webhooks tab", chromedp.Click(chromedp.CSS(`#tab-webhooks`)))
	admin.do("fill the webhook form",
		chromedp.SetValue(chromedp.CSS(`#hook-name`), "Alertmanager"),
		chromedp.SetValue(chromedp.CSS(`#hook-avatar`), base+"/assets/icon.svg"))
	admin.do("create the webhook", chromedp.Click(chromedp.CSS(`#new-webhook button[type=submit]`)))
	admin.wait("the webhook URLs", `!!document.querySelector('#webhook-urls [data-dialect=slack] input')`)
	admin.shot("webhooks")
	chime := admin.str(`document.querySelector('#webhook-urls [data-dialect=chime] input').value`)
	slack := admin.str(`document.querySelector('#webhook-urls [data-dialect=slack] input').value`)
	if !strings.HasPrefix(chime, base+"/incomingwebhooks/") || !strings.HasPrefix(slack, base+"/services/ops/") {
		t.Fatalf("dialect URLs: chime %q slack %q", chime, slack)
	}
	if n := admin.num(`document.querySelectorAll('#webhook-urls .dialect').length`); n != 4 {
		t.Fatalf("%v dialects shown, want 4", n)
	}
	if c := admin.str(`document.querySelector('#webhook-urls [data-dialect=chime] code').textContent`); !strings.HasPrefix(c, "curl -X POST '"+chime+"'") {
		t.Fatalf("curl line: %q", c)
	}

	// Post through the Chime and Slack URLs: the messages appear live, without reload.
	admin.do("open the messages tab", chromedp.Click(chromedp.CSS(`#tab-messages`)))
	admin.wait("the live stream", `document.getElementById('live-dot').classList.contains('on')`)
	admin.run(`window.__noReload = true`)
	if st := post(t, chime, `{"Content":"disk full on db-1 :fire: @All"}`); st != 200 {
		t.Fatalf("chime post: %d", st)
	}
	if st := post(t, slack, `{"text":"build *failed* on main <!here>","attachments":[{"title":"log","title_link":"https://ci.example.com/42"}]}`); st != 200 {
		t.Fatalf("slack post: %d", st)
	}
	admin.wait("the Chime message", `[...document.querySelectorAll('#messages .msg')].some(m => m.textContent.includes('disk full on db-1'))`)
	admin.wait("the Slack message", `[...document.querySelectorAll('#messages .msg')].some(m => m.textContent.includes('build failed on main'))`)
	if got := admin.str(`document.querySelector('#messages .msg .name').textContent`); got != "Alertmanager (Webhook)" {
		t.Errorf("webhook sender shown as %q", got)
	}
	admin.wait("the webhook avatar", `!!document.querySelector('#messages .msg .avatar img')`)
	admin.wait("mentions highlighted", `document.querySelectorAll('#messages .msg .mention').length >= 2`)
	// Post from the composer, then reply in its thread.
	admin.do("write a message",
		chromedp.SetValue(chromedp.CSS(`#post-text`), "On it — **rolling back** now, @helpdesk please open an incident"),
		chromedp.Click(chromedp.CSS(`#composer button[type=submit]`)))
	admin.wait("the posted message", `[...document.querySelectorAll('#messages > .msg')].some(m => m.textContent.includes('rolling back'))`)
	admin.run(`[...document.querySelectorAll('#messages > .msg')].find(m => m.textContent.includes('rolling back')).querySelector('.msg-actions button').click()`)
	admin.do("reply in the thread",
		chromedp.SetValue(chromedp.CSS(`#post-text`), "Incident INC-42 opened :white_check_mark:"),
		chromedp.Click(chromedp.CSS(`#composer button[type=submit]`)))
	admin.wait("the thread reply", `[...document.querySelectorAll('#messages .thread .msg')].some(m => m.textContent.includes('INC-42'))`)
	if admin.str(`String(window.__noReload)`) != "true" {
		t.Fatal("the page reloaded")
	}
	admin.shot("room")

	// Regenerate the webhook: the old URL is gone, the new one works.
	admin.do("open the webhooks tab", chromedp.Click(chromedp.CSS(`#tab-webhooks`)))
	admin.wait("the webhook list", `!!document.querySelector('#webhooks button.regenerate')`)
	admin.do("regenerate", chromedp.Click(chromedp.CSS(`#webhooks button.regenerate`)))
	admin.clickDialog("Regenerate")
	admin.wait("new URLs", fmt.Sprintf(`(document.querySelector('#webhook-urls [data-dialect=chime] input')||{}).value && document.querySelector('#webhook-urls [data-dialect=chime] input').value !== %q`, chime))
	chime2 := admin.str(`document.querySelector('#webhook-urls [data-dialect=chime] input').value`)
	if st := post(t, chime, `{"Content":"old url"}`); st != 404 {
		t.Errorf("old Chime URL after regenerate answered %d, want 404", st)
	}
	if st := post(t, chime2, `{"Content":"new url works"}`); st != 200 {
		t.Errorf("new Chime URL answered %d", st)
	}

	// Create an endpoint on a local receiver and watch its deliveries; failure alerts go to
	// the room chosen on the endpoints page.
	rcv := newReceiver(t)
	admin.open(base + "/endpoints")
	admin.wait("the endpoints page", `!!document.querySelector('#new-endpoint')`)
	admin.wait("the empty state", `document.querySelector('.empty') !== null`)
	admin.wait("the alerts card", `!!document.querySelector('#alerts-room option[value=ops]')`)
	admin.do("choose the alerts room", chromedp.SetValue(chromedp.CSS(`#alerts-room`), "ops"))
	admin.do("save it", chromedp.Click(chromedp.CSS(`#alerts-save`)))
	apptest.Eventually(t, 10*time.Second, "the alerts room saved", func() bool {
		var v chat.SettingsView
		s.Must(200, "GET", "/api/v1/settings", nil).JSON(t, &v)
		return v.AlertsRoomID == "ops"
	})
	admin.do("fill the endpoint form",
		chromedp.SetValue(chromedp.CSS(`#ep-url`), rcv.URL+"/hooks/chat"),
		chromedp.SetValue(chromedp.CSS(`#ep-desc`), "Incident bot"),
		chromedp.SetValue(chromedp.CSS(`#ep-headers`), "X-Team: sre"),
		chromedp.SetValue(chromedp.CSS(`#ep-attempts`), "1"),
		chromedp.SetValue(chromedp.CSS(`#ep-ordering`), "fifo"))
	admin.shot("endpoint-new")
	admin.do("create the endpoint", chromedp.Click(chromedp.CSS(`#new-endpoint button[type=submit]`)))
	admin.wait("the new secret, shown once", `/^whsec_/.test((document.querySelector('#new-secret input')||{}).value||'')`)
	admin.clickDialog("I have stored it")
	admin.wait("the endpoint page", `location.pathname.startsWith('/endpoints/ep_') && !!document.querySelector('#deliveries')`)
	epID := strings.TrimPrefix(admin.str(`location.pathname`), "/endpoints/")
	admin.wait("the fifo ordering in the settings", `(document.querySelector('#ep-order')||{}).textContent === 'FIFO: one at a time, in commit order'`)
	if strings.Contains(admin.str(`document.body.innerText`), "whsec_") {
		t.Error("the endpoint page shows the secret")
	}
	s.Must(201, "POST", "/api/v1/rooms/ops/messages", map[string]any{"sender_id": "bob", "text": "rollback finished"})
	admin.wait("a succeeded delivery", `!!document.querySelector('#delivery-table tr[data-status=succeeded]')`)

	// Make the receiver fail: the next delivery dies (one attempt); retry it once it is back.
	rcv.failing.Store(true)
	s.Must(201, "POST", "/api/v1/rooms/ops/messages", map[string]any{"sender_id": "bob", "text": "this one fails"})
	admin.wait("a dead delivery", `!!document.querySelector('#delivery-table tr[data-status=dead]')`)
	// The alert about it, in the alerts room, links to it; the link opens it.
	var alertLink string
	apptest.Eventually(t, 10*time.Second, "the dead-delivery alert", func() bool {
		var l struct{ Items []chat.Message }
		s.Must(200, "GET", "/api/v1/rooms/ops/messages?order=desc&limit=5", nil).JSON(t, &l)
		for _, m := range l.Items {
			if m.Sender.Type == chat.SenderSystem {
				if i := strings.Index(m.Text, "]("+base+"/endpoints/"+epID+"?delivery="); i >= 0 {
					alertLink = strings.TrimSuffix(m.Text[i+2:], ")")
					return true
				}
			}
		}
		return false
	})
	admin.open(alertLink)
	admin.wait("the linked delivery open", fmt.Sprintf(`!!document.querySelector('.delivery-detail') && document.querySelector('.delivery-detail').textContent.includes(%q)`,
		strings.TrimPrefix(alertLink, base+"/endpoints/"+epID+"?delivery=")))
	admin.open(base + "/rooms/ops")
	admin.wait("the alert in the room, from the system sender", `[...document.querySelectorAll('#messages .msg')].some(m => m.textContent.includes('chathooks (System)') && m.textContent.includes('died after its only attempt'))`)
	admin.open(base + "/endpoints/" + epID)
	admin.wait("the dead delivery again", `!!document.querySelector('#delivery-table tr[data-status=dead]')`)
	admin.do("open the dead delivery", chromedp.Click(chromedp.CSS(`#delivery-table tr[data-status=dead]`)))
	admin.wait("its attempt", `!!document.querySelector('.delivery-detail .attempt') && document.querySelector('.delivery-detail').textContent.includes('receiver is down')`)
	admin.do("filter dead deliveries", chromedp.SetValue(chromedp.CSS(`#filter-status`), "dead"))
	admin.run(`document.querySelector('#filter-status').dispatchEvent(new Event('change'))`)
	admin.wait("only dead deliveries", `document.querySelectorAll('#delivery-table tbody tr[data-status]').length === 1`)
	// With the keyboard this time: focus the row, press Enter. The log redraws every few
	// seconds and moves the focus to the redrawn row, so the row is focused by script (a
	// DOM node id taken first could be gone by the time it is used) and the key goes to
	// whatever holds the focus.
	admin.run(`document.querySelector('#delivery-table tr[data-status=dead]').focus()`)
	admin.do("open the dead delivery with the keyboard", chromedp.KeyEvent("\r"))
	admin.wait("its attempt", `!!document.querySelector('.delivery-detail .attempt')`)
	admin.shot("endpoint")
	rcv.failing.Store(false)
	admin.do("retry", chromedp.Click(chromedp.CSS(`.delivery-detail button.retry`)))
	admin.do("show every status", chromedp.SetValue(chromedp.CSS(`#filter-status`), ""))
	admin.run(`document.querySelector('#filter-status').dispatchEvent(new Event('change'))`)
	admin.wait("the retried delivery succeeding", `document.querySelectorAll('#delivery-table tr[data-status=succeeded]').length === 2 && !document.querySelector('#delivery-table tr[data-status=dead]')`)

	// A portal link, opened in a fresh browser context.
	admin.do("ask for a portal link", chromedp.Click(chromedp.CSS(`#portal-link`)))
	admin.clickDialog("Create link")
	admin.wait("the portal link", `!!document.querySelector('#portal-link-box input')`)
	link := admin.str(`document.querySelector('#portal-link-box input').value`)
	if !strings.HasPrefix(link, base+"/portal/pl_") {
		t.Fatalf("portal link %q", link)
	}
	owner := b.tab(admin, true, host)
	owner.do("viewport", chromedp.EmulateViewport(1366, 900))
	owner.open(link)
	owner.wait("the portal", `!!document.querySelector('#test-card') && !!document.querySelector('#delivery-table')`)
	owner.wait("the event catalog", `document.querySelectorAll('#catalog details').length === 16`)
	hitsBefore := rcv.hits.Load()
	owner.do("send a test event", chromedp.Click(chromedp.CSS(`#send-test`)))
	owner.wait("the test delivery succeeding", `[...document.querySelectorAll('#delivery-table tr[data-status=succeeded]')].some(r => r.textContent.includes('test'))`)
	if rcv.hits.Load() <= hitsBefore {
		t.Error("the receiver got no test event")
	}
	owner.shot("portal")
	owner.do("rotate the secret", chromedp.Click(chromedp.CSS(`#rotate`)))
	owner.clickDialog("Rotate")
	owner.wait("the new secret", `/^whsec_/.test((document.querySelector('#new-secret input')||{}).value||'')`)
	owner.clickDialog("I have stored it")

	// The owner's browser context reaches no admin page or API.
	owner.open(base + "/endpoints/" + epID)
	owner.wait("the sign-in form instead of the endpoint page", `!!document.querySelector('input[name=token]') && !document.querySelector('#deliveries')`)
	tok := strings.TrimPrefix(link, base+"/portal/")
	if st := owner.num(`fetch('/console/api/v1/endpoints').then(r => r.status)`); st != 401 {
		t.Errorf("console API from the portal context: %v, want 401", st)
	}
	if st := owner.num(fmt.Sprintf(`fetch('/api/v1/endpoints', {headers: {'X-Portal-Token': %q}}).then(r => r.status)`, tok)); st != 401 {
		t.Errorf("admin API with the portal token: %v, want 401", st)
	}
	if st := owner.num(`fetch('/console/api/stats').then(r => r.status)`); st != 401 {
		t.Errorf("stats from the portal context: %v, want 401", st)
	}

	// The administrator revokes the link: the portal stops answering at once.
	admin.wait("the active link listed", `document.querySelectorAll('#portal-links li').length === 1`)
	admin.do("revoke the link", chromedp.Click(chromedp.CSS(`#portal-links li button`)))
	admin.clickDialog("Revoke")
	admin.wait("no active link", `document.querySelectorAll('#portal-links li').length === 0`)
	owner.open(link)
	owner.wait("the revoked link refused", `document.body.textContent.includes('cannot be opened') && !document.querySelector('#test-card')`)

	// The dashboard, after a little traffic.
	admin.open(base + "/dashboard")
	admin.wait("the dashboard", `document.querySelectorAll('.chart svg').length === 4 && !!document.querySelector('#endpoint-health table')`)
	for i := range 3 {
		if st := post(t, chime2, fmt.Sprintf(`{"Content":"load %d"}`, i)); st != 200 {
			t.Fatalf("post: %d", st)
		}
	}
	admin.wait("a throughput line", `document.querySelectorAll('.chart svg polyline').length >= 4`)
	admin.wait("posts counted", `Number(document.querySelector('#stat-posts .muted').textContent.split(' ')[0]) >= 5`)
	// From its second sample, each endpoint's row says how busy its slots were.
	admin.wait("the slots' share", `[...document.querySelectorAll('#endpoint-health td.slots-busy')].length > 0 && [...document.querySelectorAll('#endpoint-health td.slots-busy')].every((td) => /^\d+ %$/.test(td.textContent))`)
	admin.shot("dashboard")

	// The lists, now that they have something in them.
	admin.open(base + "/rooms")
	admin.wait("the room list", `document.querySelectorAll('.room-card').length === 1 && document.querySelectorAll('#new-user li').length === 3`)
	admin.shot("rooms")
	admin.open(base + "/endpoints")
	admin.wait("the endpoint list", `document.querySelectorAll('#endpoints tbody tr').length === 1`)
	admin.shot("endpoints")

	// The room page on a phone.
	admin.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	admin.open(base + "/rooms/ops")
	admin.wait("the room on a phone", `document.querySelectorAll('#messages .msg').length >= 4`)
	admin.shot("room-phone")
	admin.do("dark colour scheme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	admin.shot("room-phone-dark")

	admin.rec.check(t)
	owner.rec.check(t)
}

// The dashboard's "slots busy" is an endpoint's slot time over its max_in_flight: an
// endpoint that takes one delivery at a time and answers each after 300 ms, with twenty
// deliveries waiting, shows its one slot busy most of each sample, and an endpoint that
// answers at once with sixteen slots shows them all but idle.
func TestDashboardSlotsBusy(t *testing.T) {
	b := newBrowser(t)
	s := apptest.Start(t, apptest.Options{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond) // a slow endpoint
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(slow.Close)
	fast := newReceiver(t)
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": slow.URL + "/slow", "event_types": []string{chat.EventRoomCreate}, "max_in_flight": 1})
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": fast.URL + "/fast", "event_types": []string{chat.EventRoomCreate}})

	admin := b.tab(nil, false, strings.TrimPrefix(s.URL, "http://"))
	admin.do("viewport", chromedp.EmulateViewport(1366, 1100)) // the health table in the shot
	admin.signIn(s.URL)
	admin.open(s.URL + "/dashboard")
	admin.wait("both endpoints' rows", `document.querySelectorAll('#endpoint-health td.slots-busy').length === 2`)
	for i := range 20 {
		s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": fmt.Sprintf("r%d", i), "name": "Room"})
	}
	busy := func(path string) string {
		return `Number([...document.querySelectorAll('#endpoint-health tr')].find((tr) => tr.textContent.includes('` + path + `'))
			.querySelector('td.slots-busy').textContent.replace(' %', ''))`
	}
	admin.wait("the slow endpoint's slot busy", busy("/slow")+` >= 50`)
	if n := admin.num(`((n) => Number.isFinite(n) ? n : -1)(` + busy("/fast") + `)`); !(n >= 0 && n < 50) { // -1: no number shown
		t.Errorf("the fast endpoint's sixteen slots shown %v %% busy", n)
	}
	admin.shot("dashboard-slots")
}
