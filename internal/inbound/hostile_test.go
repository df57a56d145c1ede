package inbound_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/apptest"
)

// TestHostileDialectBodies posts invalid UTF-8, deeply nested JSON, 10,000 mentions and
// SQL/path metacharacters through every dialect: each answer comes promptly and is a 2xx
// or a 4xx in the dialect's own form, never a 5xx; whatever is stored is valid UTF-8, and
// metacharacters are stored verbatim.
func TestHostileDialectBodies(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "h", "alice")
	h := newHook(t, s, "h", "hostile")
	urls := map[string]string{"chime": h.URLs.Chime, "google_chat": h.URLs.GoogleChat, "slack": h.URLs.Slack, "mattermost": h.URLs.Mattermost}
	field := map[string]string{"chime": "Content", "google_chat": "text", "slack": "text", "mattermost": "text"}
	mentions := strings.Repeat("@alice ", 10000)
	slackMentions := strings.Repeat("<@alice> ", 10000)
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	meta := `Robert'); DROP TABLE messages;-- ../../etc/passwd %00 ?1 $1`
	for dialect, u := range urls {
		f := field[dialect]
		bodies := map[string]string{
			"invalid utf-8":   "{\"" + f + "\":\"bad \xff\xfe\xc3\x28 bytes\"}",
			"nested":          `{"` + f + `":"x","attachments":` + deep + `,"cards":` + deep + `}`,
			"nested top":      deep,
			"nested object":   strings.Repeat(`{"a":`, 50000) + `1` + strings.Repeat(`}`, 50000),
			"10000 mentions":  `{"` + f + `":"` + mentions + `"}`,
			"10000 <@alice>":  `{"` + f + `":"` + slackMentions + `"}`,
			"metacharacters":  `{"` + f + `":"` + meta + `"}`,
			"unicode escapes": `{"` + f + `":"\ud800 lone surrogate \udfff"}`,
		}
		for name, body := range bodies {
			ct := "application/json"
			if dialect == "mattermost" && name == "metacharacters" {
				ct, body = "application/x-www-form-urlencoded", "payload="+url.QueryEscape(body)
			}
			began := time.Now()
			r := post(t, u, ct, body)
			took := time.Since(began)
			if r.Status >= 500 {
				t.Errorf("%s %s: %d %s", dialect, name, r.Status, r.Body)
			}
			if took > 5*time.Second {
				t.Errorf("%s %s took %v", dialect, name, took)
			}
			if r.Status < 300 {
				m := lastMessage(t, s, "h")
				if !utf8.ValidString(m.Text) {
					t.Errorf("%s %s stored invalid UTF-8 %q", dialect, name, m.Text)
				}
				if name == "metacharacters" && m.Text != meta {
					t.Errorf("%s: %q stored as %q", dialect, meta, m.Text)
				}
				if strings.Contains(name, "mentions") || strings.Contains(name, "alice>") {
					if len(m.Mentions) > 100 {
						t.Errorf("%s %s: %d mentions stored for one user", dialect, name, len(m.Mentions))
					}
				}
			}
			t.Logf("%-11s %-15s %d in %v", dialect, name, r.Status, took.Round(time.Millisecond))
		}
	}
}
