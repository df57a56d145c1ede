package inbound_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/inbound"
)

// Text over 16,383 characters becomes several posts of at most 16,383 characters, in order,
// with nothing lost; an Idempotency-Key repeat posts none of them again.
func TestMattermostSplitsLongText(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "r", "alice")
	h := newHook(t, s, "r", "CI")
	body := func(text string) string {
		b, _ := json.Marshal(map[string]string{"text": text})
		return string(b)
	}
	cases := []struct {
		name  string
		text  string
		posts int
	}{
		{"exactly the limit", strings.Repeat("a", inbound.MattermostMaxPostRunes), 1},
		{"one over, multibyte", strings.Repeat("é", inbound.MattermostMaxPostRunes) + "😀", 2},
		{"over the old 160,000-byte cut", strings.Repeat("0123456789", 20000), 13},
	}
	seen := 0
	for _, c := range cases {
		r := post(t, h.URLs.Mattermost, "application/json", body(c.text), "Idempotency-Key", c.name)
		if r.Status != 200 || r.Body != "ok" {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
		}
		ms := messages(t, s, "r")[seen:]
		if len(ms) != c.posts {
			t.Fatalf("%s: %d posts, want %d", c.name, len(ms), c.posts)
		}
		var joined strings.Builder
		for _, m := range ms {
			if n := utf8.RuneCountInString(m.Text); n > inbound.MattermostMaxPostRunes {
				t.Fatalf("%s: a post of %d characters", c.name, n)
			}
			joined.WriteString(m.Text)
		}
		if joined.String() != c.text {
			t.Fatalf("%s: the posts do not add up to the text (%d of %d bytes)", c.name, joined.Len(), len(c.text))
		}
		if r := post(t, h.URLs.Mattermost, "application/json", body(c.text), "Idempotency-Key", c.name); r.Status != 200 {
			t.Fatalf("%s repeat: %d %s", c.name, r.Status, r.Body)
		}
		if n := len(messages(t, s, "r")); n != seen+c.posts {
			t.Fatalf("%s: the repeat posted again (%d messages)", c.name, n-seen)
		}
		seen += c.posts
	}
}

// A wrong token gets exactly Mattermost's answer to a hook it does not know (400,
// web.incoming_webhook.invalid.app_error, "Invalid webhook.", no detail, a request id), the
// same as a token never issued anywhere; a regenerated token gets a distinct 404.
func TestMattermostWrongTokenAnswersAsAnUnknownHook(t *testing.T) {
	t.Parallel()
	f := setup(t, apptest.Options{})
	requestID := regexp.MustCompile(`^[a-z2-7]{26}$`)
	check := func(name, u string, status int, message string) map[string]any {
		t.Helper()
		r := post(t, u, "application/json", `{"text":"x"}`)
		e := r.json(t)
		if r.Status != status || e["id"] != "web.incoming_webhook.invalid.app_error" || e["message"] != message ||
			e["status_code"] != float64(status) || !requestID.MatchString(e["request_id"].(string)) ||
			r.Header.Get("X-Request-Id") != e["request_id"] || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %v", name, r.Status, r.Body, r.Header)
		}
		if len(e) != 5 {
			t.Fatalf("%s: AppError fields %v", name, e)
		}
		return e
	}
	wrong := check("wrong token", wrongToken(f.valid.URLs.Mattermost, f.valid), 400, "Invalid webhook.")
	if wrong["detailed_error"] != "" {
		t.Fatalf("wrong token: detailed_error %q", wrong["detailed_error"])
	}
	other := check("another wrong token", strings.Replace(f.valid.URLs.Mattermost, f.valid.Token, "zzzz", 1), 400, "Invalid webhook.")
	if wrong["request_id"] == other["request_id"] {
		t.Fatal("request ids repeat")
	}
	regen := check("regenerated", f.regenerated.URLs.Mattermost, 404, "Invalid webhook: it was regenerated or deleted.")
	if regen["message"] == wrong["message"] {
		t.Fatal("a regenerated token answers like a wrong one")
	}
}
