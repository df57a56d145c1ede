package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, method, u string, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func signInCookie(t *testing.T, base, token string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"token": {token}, "next": {"/rooms/ops"}}.Encode()
	return do(t, "POST", base+"/console/sign-in", form, "Content-Type", "application/x-www-form-urlencoded", "Origin", base)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// session signs in and returns the cookie header and the page's CSRF token.
func session(t *testing.T, base string) (cookie, csrf string) {
	t.Helper()
	resp, _ := signInCookie(t, base, apptest.AdminToken)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
	c := resp.Cookies()[0]
	cookie = c.Name + "=" + c.Value
	_, page := do(t, "GET", base+"/rooms", "", "Cookie", cookie)
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the console page:\n%s", page)
	}
	return cookie, m[1]
}

func TestSecurityHeaders(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	cookie, _ := session(t, s.URL)
	for _, p := range []string{"/", "/rooms/x", "/endpoints/y", "/assets/app.js", "/assets/app.css", "/portal/nope.bad", "/console/api/stats"} {
		resp, _ := do(t, "GET", s.URL+p, "", "Cookie", cookie)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe sources: %q", p, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
	}
	// Every page loads its script from a file: no inline script or style anywhere.
	for _, p := range []string{"/", "/rooms"} {
		_, page := do(t, "GET", s.URL+p, "", "Cookie", cookie)
		if regexp.MustCompile(`<script(?:\s+type="module")?>|<style|\son\w+=|style=`).MatchString(page) {
			t.Errorf("%s has inline script or style:\n%s", p, page)
		}
	}
}

func TestSignInAndSession(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	resp, page := signInCookie(t, s.URL, "wrong")
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(page, `name="token"`) {
		t.Fatalf("wrong token: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = signInCookie(t, s.URL, apptest.AdminToken)
	c := resp.Cookies()[0]
	if resp.Header.Get("Location") != "/rooms/ops" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Name != "chathooks_session" {
		t.Fatalf("plain-http session cookie: %+v, location %q", c, resp.Header.Get("Location"))
	}
	// An open redirect through next is refused.
	form := url.Values{"token": {apptest.AdminToken}, "next": {"//evil.example/x"}}.Encode()
	resp, _ = do(t, "POST", s.URL+"/console/sign-in", form, "Content-Type", "application/x-www-form-urlencoded")
	if resp.Header.Get("Location") != "/" {
		t.Errorf("next=//evil.example redirected to %q", resp.Header.Get("Location"))
	}
	// A cross-site form post cannot sign in (login CSRF).
	resp, _ = do(t, "POST", s.URL+"/console/sign-in", url.Values{"token": {apptest.AdminToken}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d", resp.StatusCode)
	}

	cookie, csrf := session(t, s.URL)
	api := s.URL + "/console/api/v1"
	if r, _ := do(t, "GET", api+"/rooms", ""); r.StatusCode != 401 {
		t.Errorf("proxy without a session: %d", r.StatusCode)
	}
	if r, _ := do(t, "GET", api+"/rooms", "", "Cookie", "chathooks_session=1.forged"); r.StatusCode != 401 {
		t.Errorf("proxy with a forged session: %d", r.StatusCode)
	}
	if r, _ := do(t, "GET", api+"/rooms", "", "Cookie", cookie); r.StatusCode != 200 {
		t.Errorf("proxy GET: %d", r.StatusCode)
	}
	body := `{"id":"r1","name":"R"}`
	if r, _ := do(t, "POST", api+"/rooms", body, "Cookie", cookie); r.StatusCode != 403 {
		t.Errorf("change without the CSRF token: %d", r.StatusCode)
	}
	if r, _ := do(t, "POST", api+"/rooms", body, "Cookie", cookie, "X-CSRF-Token", csrf+"x"); r.StatusCode != 403 {
		t.Errorf("change with a wrong CSRF token: %d", r.StatusCode)
	}
	if r, _ := do(t, "POST", api+"/rooms", body, "Cookie", cookie, "X-CSRF-Token", csrf, "Origin", "https://evil.example"); r.StatusCode != 403 {
		t.Errorf("cross-origin change: %d", r.StatusCode)
	}
	if r, b := do(t, "POST", api+"/rooms", body, "Cookie", cookie, "X-CSRF-Token", csrf, "Origin", s.URL); r.StatusCode != 201 {
		t.Errorf("change with the CSRF token: %d %s", r.StatusCode, b)
	}
	// Signing out needs the token too, then clears the cookie.
	r, _ := do(t, "POST", s.URL+"/console/sign-out", "csrf="+url.QueryEscape(csrf), "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded")
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 || r.Cookies()[0].MaxAge >= 0 {
		t.Errorf("sign-out: %d %v", r.StatusCode, r.Cookies())
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.BaseURL = "https://chat.example.com" }})
	resp, _ := do(t, "POST", s.URL+"/console/sign-in", url.Values{"token": {apptest.AdminToken}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	c := resp.Cookies()
	if len(c) != 1 || !c[0].Secure || c[0].Name != "__Host-chathooks_session" || c[0].Path != "/" {
		t.Fatalf("cookie behind https: %+v", c)
	}
}

// sink is a receiver recording the event types it got.
type sink struct {
	*httptest.Server
	mu    sync.Mutex
	types []string
}

func newSink(t *testing.T) *sink {
	k := &sink{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		k.mu.Lock()
		k.types = append(k.types, b.Type)
		k.mu.Unlock()
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *sink) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.types)
}

func TestTestEventAndPortalIsolation(t *testing.T) {
	s := apptest.Start(t, apptest.Options{FakeClock: true})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "bot", "name": "Bot", "kind": "agent"})
	a, b, c := newSink(t), newSink(t), newSink(t)
	var epA, epB, epC1, epC2 chat.EndpointView
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": a.URL, "event_types": []string{"group_channel:create"}}).JSON(t, &epA)
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": b.URL, "event_types": []string{"*"}}).JSON(t, &epB)
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": c.URL, "event_types": []string{"*"}, "agent_id": "bot"}).JSON(t, &epC1)
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": c.URL + "/2", "event_types": []string{"*"}, "agent_id": "bot"}).JSON(t, &epC2)

	// A test event goes to that endpoint only, through the delivery log, whatever its filter.
	var d chat.Delivery
	s.Must(201, "POST", "/api/v1/endpoints/"+epA.ID+"/test", map[string]any{"event_type": "user:block"}).JSON(t, &d)
	if d.EndpointID != epA.ID || d.EventType != "user:block" || !chat.IsTestEvent(d.EventID) {
		t.Fatalf("test delivery: %+v", d)
	}
	apptest.Eventually(t, 10*time.Second, "the test event to arrive", func() bool { return a.count() == 1 })
	if a.types[0] != "user:block" || b.count() != 0 || c.count() != 0 {
		t.Fatalf("receivers: a %v, b %d, c %d", a.types, b.count(), c.count())
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+epA.ID+"/test", map[string]any{"event_type": "nope"}); r.Status != 400 {
		t.Errorf("unknown event type: %d", r.Status)
	}
	// Replay never re-sends test events.
	var rep struct{ Deliveries int }
	s.Must(200, "POST", "/api/v1/endpoints/"+epB.ID+"/replay", map[string]any{"since": "2000-01-01T00:00:00Z"}).JSON(t, &rep)
	if rep.Deliveries != 0 {
		t.Errorf("replay to another endpoint re-sent %d test events", rep.Deliveries)
	}
	// The delivery log filters by event type.
	s.Must(201, "POST", "/api/v1/endpoints/"+epA.ID+"/test", map[string]any{"event_type": "group_channel:join"})
	var list struct{ Items []chat.Delivery }
	s.Must(200, "GET", "/api/v1/endpoints/"+epA.ID+"/deliveries?event_type=group_channel:join", nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].EventType != "group_channel:join" {
		t.Errorf("filtered by event type: %+v", list.Items)
	}

	// A portal link to A: only A is reachable, in every operation.
	var link struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	s.Must(201, "POST", "/api/v1/endpoints/"+epA.ID+"/portal-links", map[string]any{"expires_in_s": 3600}).JSON(t, &link)
	if !strings.HasPrefix(link.URL, s.URL+"/portal/"+link.ID+".") {
		t.Fatalf("link URL %q", link.URL)
	}
	tok := strings.TrimPrefix(link.URL, s.URL+"/portal/")
	portal := func(method, path, body string) (int, string) {
		r, b := do(t, method, s.URL+"/portal/api"+path, body, "X-Portal-Token", tok, "Content-Type", "application/json")
		return r.StatusCode, b
	}
	if st, body := portal("GET", "/session", ""); st != 200 || !strings.Contains(body, epA.ID) || strings.Contains(body, epB.ID) || strings.Contains(body, "whsec_") || strings.Contains(body, epA.Secret) {
		t.Errorf("portal session: %d %s", st, body)
	}
	var bList struct{ Items []chat.Delivery }
	s.Must(201, "POST", "/api/v1/endpoints/"+epB.ID+"/test", nil)
	s.Must(200, "GET", "/api/v1/endpoints/"+epB.ID+"/deliveries", nil).JSON(t, &bList)
	other := bList.Items[0].ID
	for _, op := range []struct{ method, path string }{
		{"GET", "/endpoints/" + epB.ID + "/deliveries"},
		{"POST", "/endpoints/" + epB.ID + "/test"},
		{"POST", "/endpoints/" + epB.ID + "/replay"},
		{"POST", "/endpoints/" + epB.ID + "/rotate-secret"},
		{"GET", "/deliveries/" + other},
		{"POST", "/deliveries/" + other + "/retry"},
		{"GET", "/rooms"},
		{"GET", "/endpoints"},
	} {
		if st, body := portal(op.method, op.path, `{"since":"2000-01-01T00:00:00Z"}`); st != 404 {
			t.Errorf("portal %s %s on another endpoint: %d %s", op.method, op.path, st, body)
		}
	}
	if st, _ := portal("GET", "/endpoints/"+epA.ID+"/deliveries", ""); st != 200 {
		t.Errorf("own deliveries: %d", st)
	}
	// The catalog has every type with its schema and an example.
	st, body := portal("GET", "/event-types", "")
	var cat struct {
		Items []struct {
			Type    string         `json:"type"`
			Schema  map[string]any `json:"schema"`
			Example map[string]any `json:"example"`
		}
	}
	if err := json.Unmarshal([]byte(body), &cat); err != nil || st != 200 || len(cat.Items) != len(chat.AllEventTypes()) {
		t.Fatalf("catalog: %d %s", st, body)
	}
	for _, it := range cat.Items {
		if len(it.Schema) == 0 || len(it.Example) == 0 {
			t.Errorf("catalog entry %s lacks a schema or an example", it.Type)
		}
	}
	if st, body := portal("POST", "/endpoints/"+epA.ID+"/test", `{}`); st != 201 {
		t.Errorf("own test event: %d %s", st, body)
	}
	st, body = portal("POST", "/endpoints/"+epA.ID+"/rotate-secret", `{}`)
	var rot struct{ Secret string }
	_ = json.Unmarshal([]byte(body), &rot)
	if st != 200 || !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == epA.Secret {
		t.Errorf("rotate from the portal: %d %s", st, body)
	}
	// The token opens nothing of the admin side.
	for _, p := range []string{"/api/v1/endpoints", "/console/api/v1/endpoints", "/console/api/stats"} {
		if r, _ := do(t, "GET", s.URL+p, "", "X-Portal-Token", tok, "Authorization", "Bearer "+tok); r.StatusCode != 401 {
			t.Errorf("%s with the portal token: %d", p, r.StatusCode)
		}
	}
	if r, page := do(t, "GET", s.URL+"/endpoints/"+epA.ID, ""); !strings.Contains(page, `name="token"`) || strings.Contains(page, `id="main"`) {
		t.Errorf("admin page without a session: %d", r.StatusCode)
	}
	// A forged signature, a revoked link and an expired link are all refused.
	forged := link.ID + ".AAAA"
	if r, _ := do(t, "GET", s.URL+"/portal/api/session", "", "X-Portal-Token", forged); r.StatusCode != 403 {
		t.Errorf("forged token: %d", r.StatusCode)
	}
	if r, _ := do(t, "GET", s.URL+"/portal/"+forged, ""); r.StatusCode != 403 {
		t.Errorf("portal page with a forged token: %d", r.StatusCode)
	}
	if r, _ := do(t, "GET", s.URL+"/portal/"+tok, ""); r.StatusCode != 200 {
		t.Errorf("portal page: %d", r.StatusCode)
	}
	s.Must(204, "DELETE", "/api/v1/portal-links/"+link.ID, nil)
	if st, _ := portal("GET", "/session", ""); st != 403 {
		t.Errorf("revoked link: %d", st)
	}
	s.Must(201, "POST", "/api/v1/endpoints/"+epA.ID+"/portal-links", map[string]any{"expires_in_s": 60}).JSON(t, &link)
	tok = strings.TrimPrefix(link.URL, s.URL+"/portal/")
	if st, _ := portal("GET", "/session", ""); st != 200 {
		t.Errorf("fresh link: %d", st)
	}
	s.Clock.Advance(61 * time.Second)
	if st, _ := portal("GET", "/session", ""); st != 403 {
		t.Errorf("expired link: %d", st)
	}

	// An agent link covers every endpoint of the agent, and only those.
	s.Must(201, "POST", "/api/v1/users/bot/portal-links", nil).JSON(t, &link)
	tok = strings.TrimPrefix(link.URL, s.URL+"/portal/")
	st, body = portal("GET", "/session", "")
	if st != 200 || !strings.Contains(body, epC1.ID) || !strings.Contains(body, epC2.ID) || strings.Contains(body, epA.ID) || strings.Contains(body, epB.ID) {
		t.Errorf("agent link session: %d %s", st, body)
	}
	if st, _ := portal("GET", "/endpoints/"+epC2.ID+"/deliveries", ""); st != 200 {
		t.Errorf("agent link, second endpoint: %d", st)
	}
	if st, _ := portal("GET", "/endpoints/"+epB.ID+"/deliveries", ""); st != 404 {
		t.Errorf("agent link, workspace endpoint: %d", st)
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+epB.ID+"/portal-links", map[string]any{"agent": true}); r.Status != 409 {
		t.Errorf("agent link of a workspace endpoint: %d", r.Status)
	}
	var links struct{ Items []chat.PortalLink }
	s.Must(200, "GET", "/api/v1/portal-links", nil).JSON(t, &links)
	revoked := 0
	for _, l := range links.Items {
		if l.RevokedAt != nil {
			revoked++
		}
	}
	if len(links.Items) != 3 || links.Items[0].AgentID != "bot" || revoked != 1 {
		t.Errorf("portal links: %+v", links.Items)
	}
}

func TestStats(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	cookie, csrf := session(t, s.URL)
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "u", "name": "U"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"u"}})
	k := newSink(t)
	var ep struct {
		ID string `json:"id"`
	}
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": k.URL, "event_types": []string{"*"}}).JSON(t, &ep)
	for range 2 {
		s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "u", "text": "hi"})
	}
	// A post made through the console counts too (the proxy reports the API's route).
	if r, b := do(t, "POST", s.URL+"/console/api/v1/rooms/r/messages", `{"sender_id":"u","text":"from the console"}`, "Cookie", cookie, "X-CSRF-Token", csrf); r.StatusCode != 201 {
		t.Fatalf("post through the console: %d %s", r.StatusCode, b)
	}
	apptest.Eventually(t, 10*time.Second, "three deliveries", func() bool { return k.count() == 3 })
	// The receiver counts a delivery when its request arrives; the engine counts the attempt
	// once it has read the answer: wait for the stats to show all three.
	var st struct {
		Posts       float64            `json:"posts"`
		Attempts    map[string]float64 `json:"attempts"`
		SlotSeconds map[string]float64 `json:"slot_seconds"`
		Endpoints   []struct {
			Pending, Failed, Dead int
			MaxInFlight           int `json:"max_in_flight"`
		} `json:"endpoints"`
	}
	var body string
	var attempts float64
	apptest.Eventually(t, 10*time.Second, "three attempts in the stats", func() bool {
		var r *http.Response
		r, body = do(t, "GET", s.URL+"/console/api/stats", "", "Cookie", cookie)
		st.Posts, st.Attempts, st.SlotSeconds, st.Endpoints = 0, nil, nil, nil
		if err := json.Unmarshal([]byte(body), &st); err != nil || r.StatusCode != 200 {
			t.Fatalf("stats: %d %s", r.StatusCode, body)
		}
		attempts = 0
		for _, v := range st.Attempts {
			attempts += v
		}
		return attempts == 3
	})
	if st.Posts != 3 || attempts != 3 || len(st.Endpoints) != 1 || st.Endpoints[0].Dead != 0 {
		t.Errorf("stats: %s", body)
	}
	// The endpoint's slots: the time its three attempts held them, and how many it has
	// (the default, not set on the endpoint), for the dashboard to say how full they were.
	if st.SlotSeconds[ep.ID] <= 0 || len(st.Endpoints) != 1 || st.Endpoints[0].MaxInFlight != chat.DefaultMaxInFlight {
		t.Errorf("slots: %s", body)
	}
	// The room list carries each room's last activity: its latest event.
	r, body := do(t, "GET", s.URL+"/console/api/rooms", "", "Cookie", cookie)
	var rooms struct {
		Items []struct {
			ID             string     `json:"id"`
			LastActivityAt *time.Time `json:"last_activity_at"`
			LastEventType  string     `json:"last_event_type"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &rooms); err != nil || r.StatusCode != 200 || len(rooms.Items) != 1 ||
		rooms.Items[0].LastActivityAt == nil || rooms.Items[0].LastEventType != chat.EventMessageSend {
		t.Errorf("rooms: %d %s", r.StatusCode, body)
	}
}

func TestSessionExpires(t *testing.T) {
	s := apptest.Start(t, apptest.Options{FakeClock: true})
	cookie, _ := session(t, s.URL)
	if r, _ := do(t, "GET", s.URL+"/console/api/v1/rooms", "", "Cookie", cookie); r.StatusCode != 200 {
		t.Fatalf("fresh session: %d", r.StatusCode)
	}
	s.Clock.Advance(12*time.Hour + time.Second)
	if r, _ := do(t, "GET", s.URL+"/console/api/v1/rooms", "", "Cookie", cookie); r.StatusCode != 401 {
		t.Errorf("session after 12 h: %d", r.StatusCode)
	}
	if _, page := do(t, "GET", s.URL+"/rooms?expired=1", "", "Cookie", cookie); !strings.Contains(page, "session has ended") || !strings.Contains(page, `name="token"`) {
		t.Errorf("expired session page:\n%s", page)
	}
}

// TestTestEventsInEveryFormat sends the example of every event type to an endpoint of each
// format: each is built, signed and delivered like any event.
func TestTestEventsInEveryFormat(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	var mu sync.Mutex
	got := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			ClientToken string `json:"clientToken"`
			Secret      string `json:"secret"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &v) == nil && v.Secret != "" && v.ClientToken != "" {
			_, _ = w.Write([]byte(v.Secret)) // the RBM verification handshake
			return
		}
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	for _, format := range []string{"standard", "sendbird", "rbm"} {
		var ep chat.EndpointView
		s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": rcv.URL + "/" + format, "event_types": []string{"*"}, "format": format}).JSON(t, &ep)
		if ep.Status != chat.EndpointActive {
			t.Fatalf("%s endpoint is %s", format, ep.Status)
		}
		for _, typ := range chat.AllEventTypes() {
			s.Must(201, "POST", "/api/v1/endpoints/"+ep.ID+"/test", map[string]any{"event_type": typ})
		}
		// Every delivery is recorded as succeeded (the receiver answers 200 to each).
		var list struct{ Items []chat.Delivery }
		t.Cleanup(func() {
			if t.Failed() {
				for _, d := range list.Items {
					dd := s.Do("GET", "/api/v1/deliveries/"+d.ID, nil)
					t.Logf("%s delivery: %s", format, dd.Body)
				}
			}
		})
		apptest.Eventually(t, 15*time.Second, format+" test events delivered", func() bool {
			s.Must(200, "GET", "/api/v1/endpoints/"+ep.ID+"/deliveries?limit=50", nil).JSON(t, &list)
			for _, d := range list.Items {
				if d.Status != chat.DeliverySucceeded {
					return false
				}
			}
			return len(list.Items) == len(chat.AllEventTypes())
		})
		for _, d := range list.Items {
			if !chat.IsTestEvent(d.EventID) {
				t.Errorf("%s: delivery %+v is not of a test event", format, d)
			}
		}
		mu.Lock()
		n := got["/"+format]
		mu.Unlock()
		if n != len(chat.AllEventTypes()) {
			t.Errorf("%s: the receiver got %d requests, want %d", format, n, len(chat.AllEventTypes()))
		}
	}
}
