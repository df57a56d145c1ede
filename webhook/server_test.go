package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/webhook"
)

// receiver is an httptest server whose handler is webhook.Middleware around a recorder. The
// verifier can be swapped between deliveries to check which secrets a delivery verifies
// under.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex       // guards the fields below
	verifier webhook.Verifier // the verifier the next request is checked with
	bodies   []string         // every body the middleware let through
	refused  int              // requests the middleware answered with 4xx
}

func newReceiver(t *testing.T, v webhook.Verifier) *receiver {
	rc := &receiver{verifier: v}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.mu.Unlock()
	})
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		v := rc.verifier
		rc.mu.Unlock()
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		webhook.Middleware(v)(inner).ServeHTTP(sw, r)
		if sw.status >= 400 {
			rc.mu.Lock()
			rc.refused++
			rc.mu.Unlock()
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (rc *receiver) set(v webhook.Verifier) {
	rc.mu.Lock()
	rc.verifier = v
	rc.mu.Unlock()
}

// got reports whether a verified delivery contained text (for rbm, in the decoded data).
func (rc *receiver) got(text string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, b := range rc.bodies {
		if strings.Contains(b, text) {
			return true
		}
		if p, err := webhook.DecodePush([]byte(b)); err == nil && strings.Contains(string(p.Message.Data), text) {
			return true
		}
	}
	return false
}

func (rc *receiver) refusals() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.refused
}

type endpoint struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Status string `json:"status"`
}

// TestRealDeliveries runs each format against a running chathooks server: the middleware
// answers the RBM handshake, accepts deliveries signed with the endpoint's secret, with the
// new and with the old secret during a rotation overlap, and refuses them (401, recorded as
// a failed attempt) under a secret the server does not hold.
func TestRealDeliveries(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})

	std1, _ := webhook.NewStandardSecret()
	std2, _ := webhook.NewStandardSecret()
	stdWrong, _ := webhook.NewStandardSecret()
	verifier := map[string]func(secret string) webhook.Verifier{
		"standard": func(secret string) webhook.Verifier {
			v, err := webhook.NewStandard(secret)
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		"sendbird": func(secret string) webhook.Verifier { return webhook.NewSendbird(secret) },
		"rbm":      func(secret string) webhook.Verifier { return webhook.NewRBM(secret) },
	}
	secrets := map[string][3]string{ // first, rotated-to, never the endpoint's
		"standard": {std1, std2, stdWrong},
		"sendbird": {"sendbird-secret-one", "sendbird-secret-two", "sendbird-secret-wrong"},
		"rbm":      {"RBMCLIENTTOKENONE", "RBMCLIENTTOKENTWO", "RBMCLIENTTOKENBAD"},
	}
	for _, format := range []string{"standard", "sendbird", "rbm"} {
		t.Run(format, func(t *testing.T) {
			sec := secrets[format]
			rc := newReceiver(t, verifier[format](sec[0]))
			var ep endpoint
			s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{
				"url": rc.URL, "format": format, "secret": sec[0], "event_types": []string{"group_channel:message_send"},
			}).JSON(t, &ep)
			if ep.Status != "active" {
				t.Fatalf("endpoint status %q after creation, want active (rbm: the middleware answered the handshake)", ep.Status)
			}
			room := "room-" + format
			s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": room, "name": room, "member_ids": []string{"alice"}})
			send := func(text string) {
				s.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/messages", map[string]any{"sender_id": "alice", "text": text})
			}

			send(format + " first")
			apptest.Eventually(t, 10*time.Second, "a verified delivery", func() bool { return rc.got(format + " first") })

			s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/rotate-secret", map[string]any{"secret": sec[1], "expire_old_after_s": 3600})
			rc.set(verifier[format](sec[1]))
			send(format + " rotated, new secret")
			apptest.Eventually(t, 10*time.Second, "a delivery verified with the new secret", func() bool { return rc.got(format + " rotated, new secret") })
			rc.set(verifier[format](sec[0]))
			send(format + " rotated, old secret")
			apptest.Eventually(t, 10*time.Second, "a delivery verified with the old secret", func() bool { return rc.got(format + " rotated, old secret") })

			rc.set(verifier[format](sec[2]))
			before := rc.refusals()
			send(format + " forged")
			apptest.Eventually(t, 10*time.Second, "a refused delivery", func() bool { return rc.refusals() > before })
			if rc.got(format + " forged") {
				t.Fatal("a delivery passed the middleware under a secret the server does not hold")
			}
			var list struct {
				Items []struct{ ID string } `json:"items"`
			}
			s.Must(http.StatusOK, "GET", "/api/v1/endpoints/"+ep.ID+"/deliveries?limit=1", nil).JSON(t, &list)
			var d struct {
				Attempts []struct {
					StatusCode int `json:"status_code"`
				} `json:"attempts"`
			}
			apptest.Eventually(t, 10*time.Second, "the 401 attempt recorded", func() bool {
				s.Must(http.StatusOK, "GET", "/api/v1/deliveries/"+list.Items[0].ID, nil).JSON(t, &d)
				return len(d.Attempts) > 0
			})
			if d.Attempts[0].StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt answered %d, want 401", d.Attempts[0].StatusCode)
			}
		})
	}
}

// TestRBMHandshakeRefused: an RBM endpoint whose receiver holds another client token stays
// unverified, because the middleware refuses the handshake.
func TestRBMHandshakeRefused(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	rc := newReceiver(t, webhook.NewRBM("SOMEOTHERTOKEN"))
	r := s.Do("POST", "/api/v1/endpoints", map[string]any{"url": rc.URL, "format": "rbm", "secret": "THEENDPOINTTOKEN", "event_types": []string{"*"}})
	var ep endpoint
	if r.Status == http.StatusCreated {
		r.JSON(t, &ep)
	}
	if ep.Status == "active" {
		t.Fatalf("endpoint active although the receiver refused the handshake: %d %s", r.Status, r.Body)
	}
	if rc.refusals() == 0 {
		t.Fatalf("the receiver saw no handshake: %d %s", r.Status, r.Body)
	}
}

// TestSendbirdHeaderNames: either header name carries the signature; a repeated header
// (rotation) or a comma-joined one (a proxy) is searched value by value.
func TestSendbirdHeaderNames(t *testing.T) {
	body := []byte(`{"category":"group_channel:message_send"}`)
	good := webhook.SendbirdSignature("new", body)
	old := webhook.SendbirdSignature("old", body)
	v := webhook.NewSendbird("new")
	for name, h := range map[string]http.Header{
		"x-sendbird-signature": {"X-Sendbird-Signature": {good}},
		"x-signature":          {"X-Signature": {good}},
		"repeated":             {"X-Sendbird-Signature": {old, good}},
		"comma-joined":         {"X-Sendbird-Signature": {old + ", " + good}},
	} {
		if err := v.Verify(h, body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := v.Verify(http.Header{"X-Sendbird-Signature": {old}}, body); err != webhook.ErrNoMatch {
		t.Errorf("old secret only: %v, want ErrNoMatch", err)
	}
}

// TestMiddlewareRefusals covers the answers the middleware gives by itself.
func TestMiddlewareRefusals(t *testing.T) {
	const token = "CLIENTTOKEN"
	event := []byte(`{"eventType":"READ"}`)
	envelope := fmt.Sprintf(`{"message":{"data":%q}}`, base64.StdEncoding.EncodeToString(event))
	h := webhook.Middleware(webhook.NewRBM(token))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("handler reached for %s %s", r.Method, r.Header)
	}))
	for name, c := range map[string]struct {
		method, body, sig string
		want              int
	}{
		"GET":                    {"GET", "", "", http.StatusMethodNotAllowed},
		"too large":              {"POST", strings.Repeat(" ", webhook.MaxBodyBytes+1), "x", http.StatusRequestEntityTooLarge},
		"no signature":           {"POST", envelope, "", http.StatusBadRequest},
		"not an envelope":        {"POST", `{"x":1}`, webhook.RBMSignature(token, event), http.StatusBadRequest},
		"signature of envelope":  {"POST", envelope, webhook.RBMSignature(token, []byte(envelope)), http.StatusUnauthorized},
		"handshake, wrong token": {"POST", `{"clientToken":"OTHER","secret":"s"}`, "", http.StatusUnauthorized},
		"handshake, no secret":   {"POST", `{"clientToken":"CLIENTTOKEN","secret":""}`, "", http.StatusBadRequest},
	} {
		req := httptest.NewRequest(c.method, "/", strings.NewReader(c.body))
		if c.sig != "" {
			req.Header.Set("X-Goog-Signature", c.sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s: %d %q, want %d", name, rec.Code, rec.Body, c.want)
		}
	}
	// Sanity: the envelope with its right signature passes (the handler above would complain,
	// so use a fresh one).
	ok := webhook.Middleware(webhook.NewRBM(token))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		if json.Unmarshal(b, &p) != nil {
			t.Errorf("handler got %q", b)
		}
	}))
	req := httptest.NewRequest("POST", "/", strings.NewReader(envelope))
	req.Header.Set("X-Goog-Signature", webhook.RBMSignature(token, event))
	rec := httptest.NewRecorder()
	ok.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("signed envelope: %d %q", rec.Code, rec.Body)
	}
}

// TestShellOneLiners runs the openssl command lines of docs/signatures.md (which the README
// repeats) on real deliveries of each format and compares their output with the header.
func TestShellOneLiners(t *testing.T) {
	for _, tool := range []string{"sh", "openssl", "jq", "od", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	doc, err := os.ReadFile("../docs/signatures.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)### (standard|sendbird|rbm)\\b.*?```sh\n(.*?)\n```").FindAllSubmatch(doc, -1) {
		lines[string(m[1])] = string(m[2])
		if !bytes.Contains(readme, m[2]) {
			t.Errorf("the README's %s line differs from docs/signatures.md's:\n%s", m[1], m[2])
		}
	}
	if len(lines) != 3 {
		t.Fatalf("found %d command lines in docs/signatures.md, want 3", len(lines))
	}

	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Ops", "member_ids": []string{"alice"}})
	std, _ := webhook.NewStandardSecret()
	secrets := map[string]string{"standard": std, "sendbird": "a sendbird secret", "rbm": "RBMCLIENTTOKEN"}
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 3)
	for format, secret := range secrets {
		v := map[string]webhook.Verifier{"sendbird": webhook.NewSendbird(secret), "rbm": webhook.NewRBM(secret)}[format]
		if format == "standard" {
			v, _ = webhook.NewStandard(secret)
		}
		rc := httptest.NewServer(webhook.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			h := r.Header.Clone()
			h.Set("X-Format", format)
			got <- delivery{h, b}
		})))
		t.Cleanup(rc.Close)
		s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": rc.URL, "format": format, "secret": secret, "event_types": []string{"group_channel:message_send"}})
	}
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms/ops/messages", map[string]any{"sender_id": "alice", "text": "quotes ' \" and ünïcode ✓\nnew line"})
	for range 3 {
		var d delivery
		select {
		case d = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery within 10 s")
		}
		format := d.header.Get("X-Format")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), d.body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", lines[format])
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"SECRET="+secrets[format], "CLIENT_TOKEN="+secrets[format],
			"WEBHOOK_ID="+d.header.Get("webhook-id"), "WEBHOOK_TIMESTAMP="+d.header.Get("webhook-timestamp"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, out)
		}
		want := map[string]string{
			"standard": strings.TrimPrefix(d.header.Get("webhook-signature"), "v1,"),
			"sendbird": d.header.Get("x-sendbird-signature"),
			"rbm":      d.header.Get("x-goog-signature"),
		}[format]
		if strings.TrimSpace(string(out)) != want || want == "" {
			t.Errorf("%s: the one-liner printed %q, the header is %q", format, out, want)
		}
	}
}
