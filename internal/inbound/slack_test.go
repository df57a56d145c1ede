package inbound_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/apptest"
)

func TestSlack(t *testing.T) {
	t.Parallel()
	f := setup(t, apptest.Options{})
	v := f.valid
	u := v.URLs.Slack
	form := func(payload string) string { return "payload=" + url.QueryEscape(payload) }
	const js, fm = "application/json", "application/x-www-form-urlencoded"
	cases := []struct {
		name, url, ct, body string
		status              int
		want                string // exact body
	}{
		{"json", u, js, `{"text":"Build <https://ci.example.com/42|#42> *failed*","username":"ci","icon_emoji":":rotating_light:"}`, 200, "ok"},
		{"form payload", u, fm, form(`{"text":"hello from a form"}`), 200, "ok"},
		{"form type with a JSON body (curl -d)", u, fm, `{"text":"curl -d"}`, 200, "ok"},
		{"no content type", u, "", `{"text":"bare"}`, 200, "ok"},
		{"attachments only", u, js, `{"attachments":[{"fallback":"fb","color":"danger","pretext":"Alert fired","title":"CPU high","title_link":"https://grafana.example.com/d/1","text":"cpu at 97%","fields":[{"title":"host","value":"web1","short":true}],"footer":"Grafana"}]}`, 200, "ok"},
		{"blocks only", u, js, `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*from blocks*"}}]}`, 200, "ok"},
		{"unknown fields ignored", u, js, `{"text":"x","channel":"#ops","unfurl_links":false,"metadata":{"event_type":"e"}}`, 200, "ok"},
		{"invalid JSON", u, js, `{"text":`, 400, "invalid_payload"},
		{"not an object", u, js, `["text"]`, 400, "invalid_payload"},
		{"form without payload", u, fm, `text=hello`, 400, "invalid_payload"},
		{"form payload not JSON", u, fm, form(`hello`), 400, "invalid_payload"},
		{"text not a string", u, js, `{"text":{"a":1}}`, 400, "invalid_payload"},
		{"no text", u, js, `{"username":"ci"}`, 400, "no_text"},
		{"empty text", u, js, `{"text":""}`, 400, "no_text"},
		{"empty attachments", u, js, `{"attachments":[{}]}`, 400, "no_text"},
		{"too many attachments", u, js, `{"attachments":[` + strings.Repeat(`{"text":"a"},`, 100) + `{"text":"a"}]}`, 400, "too_many_attachments"},
		{"wrong token", wrongToken(u, v), js, `{"text":"x"}`, 403, "invalid_token"},
		{"unknown hook", unknownID(u, v), js, `{"text":"x"}`, 403, "invalid_token"},
		{"regenerated", f.regenerated.URLs.Slack, js, `{"text":"x"}`, 404, "no_service"},
		{"deleted", f.deleted.URLs.Slack, js, `{"text":"x"}`, 404, "no_service"},
		{"room deleted", f.gone.URLs.Slack, js, `{"text":"x"}`, 404, "channel_not_found"},
		{"other room in the path", strings.Replace(u, "/services/r/", "/services/gone/", 1), js, `{"text":"x"}`, 404, "channel_not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, c.url, c.ct, c.body)
			if r.Status != c.status || r.Body != c.want {
				t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, c.status, c.want)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q", ct)
			}
			if r.Header.Get("Location") != "" {
				t.Fatal("redirect")
			}
		})
	}
	// Attachments are content: rendered and searchable like text.
	post(t, u, js, `{"attachments":[{"pretext":"Alert fired","title":"CPU high","title_link":"https://grafana.example.com/d/1","text":"cpu at 97%","fields":[{"title":"host","value":"web1"}],"footer":"Grafana"}]}`)
	m := lastMessage(t, f.s, "r")
	for _, want := range []string{"Alert fired", "CPU high", "cpu at 97%", "host", "web1", "Grafana"} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("attachment part %q missing: text %q html %q", want, m.Text, m.HTML)
		}
	}
	if m.Format != "slack" || !strings.Contains(m.HTML, `href="https://grafana.example.com/d/1"`) {
		t.Errorf("format %s html %s", m.Format, m.HTML)
	}
}

// Text over 40,000 characters is truncated, not rejected.
func TestSlackTruncation(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "long")
	h := newHook(t, s, "long", "Long")
	r := post(t, h.URLs.Slack, "application/json", fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 45000)))
	if r.Status != 200 || r.Body != "ok" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if n := utf8.RuneCountInString(lastMessage(t, s, "long").Text); n != 40000 {
		t.Fatalf("stored %d characters, want 40000", n)
	}
}

// thread_ts maps to a thread: a message id replies in its thread; any other ts names a
// thread started by its first message.
func TestSlackThreadTS(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "th")
	h := newHook(t, s, "th", "T")
	for _, body := range []string{`{"text":"a","thread_ts":"1712345678.000100"}`, `{"text":"b","thread_ts":1712345678.000100}`, `{"text":"c"}`} {
		if r := post(t, h.URLs.Slack, "", body); r.Status != 200 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	ms := messages(t, s, "th")
	if ms[0].ThreadID != ms[0].ID || ms[1].ThreadID != ms[0].ID || ms[2].ThreadID != ms[2].ID {
		t.Fatalf("threads %s %s %s", ms[0].ThreadID, ms[1].ThreadID, ms[2].ThreadID)
	}
	if r := post(t, h.URLs.Slack, "", `{"text":"d","thread_ts":"`+ms[2].ID+`"}`); r.Status != 200 {
		t.Fatal(r.Body)
	}
	if m := lastMessage(t, s, "th"); m.ThreadID != ms[2].ID {
		t.Fatalf("reply by message id went to %s", m.ThreadID)
	}
}
