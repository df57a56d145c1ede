package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/apptest"
)

// hostileIDs are ids made of the characters ids allow, arranged as path traversal, plus ids
// with SQL and URL metacharacters that must be refused.
var hostileIDs = []string{
	"..", ".", "...", "a..b", "..a", "a.", "-", "--", "@", ":", "a:b@c.d", "_", "x" + strings.Repeat(".", 127),
	"../etc", "a/b", `a\b`, "a%2fb", "a%00", "' OR '1'='1", "a;DROP TABLE users", "a b", "a\"b", "ü", "a\x00b",
}

// hostileTexts are stored and returned exactly as sent.
var hostileTexts = []string{
	`Robert'); DROP TABLE users;--`, `' OR 1=1 --`, `"; DELETE FROM messages WHERE "1"="1`, `../../../../etc/passwd`,
	`..\..\windows\win.ini`, `%2e%2e%2f%2e%2e%2f`, `$1 ?1 ? :name @p`, "tab\tnewline\ncr\r", `<script>alert(1)</script>`,
	`\x27\u0027`, "emoji 🚀 and ü", `%s%n%x`, `{{.Secret}}`, `\`,
}

// TestHostileIDsAndFields: every id is either refused (400 invalid_argument) or stored and
// addressable by it, returned verbatim; names and texts with SQL, path and format
// metacharacters are stored and returned verbatim; NUL bytes are refused or kept, never a
// 500 (PostgreSQL's text type cannot hold them).
func TestHostileIDsAndFields(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "owner", "name": "Owner"})
	accepted := 0
	for _, id := range hostileIDs {
		for _, kind := range []string{"users", "rooms"} {
			body := map[string]any{"id": id, "name": "n"}
			if kind == "rooms" {
				body["member_ids"] = []string{"owner"}
			}
			r := s.Do("POST", "/api/v1/"+kind, body)
			switch {
			case r.Status == http.StatusBadRequest && r.ErrorCode() == "invalid_argument":
				continue
			case r.Status != http.StatusCreated:
				t.Errorf("create %s %q: %d %s", kind, id, r.Status, r.Body)
				continue
			}
			accepted++
			var got struct{ ID string }
			r.JSON(t, &got)
			if got.ID != id {
				t.Errorf("create %s %q returned id %q", kind, id, got.ID)
			}
			g := s.Do("GET", "/api/v1/"+kind+"/"+url.PathEscape(id), nil)
			var back struct{ ID string }
			if g.Status == http.StatusOK {
				g.JSON(t, &back)
			}
			if g.Status != http.StatusOK || back.ID != id {
				t.Errorf("%s %q was created but GET by its id answers %d %s", kind, id, g.Status, g.Body)
			}
		}
	}
	t.Logf("%d hostile ids: %d creations accepted and addressable, the rest refused 400", len(hostileIDs), accepted)

	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "r", "member_ids": []string{"owner"}})
	for _, txt := range hostileTexts {
		var u struct{ ID, Name string }
		r := s.Do("POST", "/api/v1/users", map[string]any{"name": txt, "alias": "a" + string(rune('a'+len(txt)%26))})
		if r.Status == http.StatusCreated {
			r.JSON(t, &u)
			var back struct{ Name string }
			s.Must(200, "GET", "/api/v1/users/"+url.PathEscape(u.ID), nil).JSON(t, &back)
			if back.Name != strings.TrimSpace(txt) { // names are trimmed, nothing else
				t.Errorf("user name %q came back as %q", txt, back.Name)
			}
		} else if r.Status != http.StatusBadRequest {
			t.Errorf("user named %q: %d %s", txt, r.Status, r.Body)
		}
		var m struct{ ID, Text string }
		s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "owner", "text": txt}).JSON(t, &m)
		var back struct{ Text string }
		s.Must(200, "GET", "/api/v1/rooms/r/messages/"+url.PathEscape(m.ID), nil).JSON(t, &back)
		if m.Text != txt || back.Text != txt {
			t.Errorf("message text %q stored as %q, returned as %q", txt, m.Text, back.Text)
		}
	}
	for _, body := range []string{`{"sender_id":"owner","text":"a\u0000b"}`, `{"name":"nul\u0000name"}`} {
		path := "/api/v1/rooms/r/messages"
		if strings.Contains(body, "name") {
			path = "/api/v1/users"
		}
		if r := s.Do("POST", path, body); r.Status >= 500 {
			t.Errorf("POST %s with a NUL byte: %d %s", path, r.Status, r.Body)
		}
	}
}

// TestHostileBodies: invalid UTF-8, deeply nested JSON and huge arrays are refused or
// accepted promptly on every JSON route, never a 500 or a stuck request.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "owner", "name": "Owner"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "r", "member_ids": []string{"owner"}})
	bodies := map[string]string{
		"nested arrays":  strings.Repeat("[", 200000) + strings.Repeat("]", 200000),
		"nested objects": strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000),
		"nested in text": `{"sender_id":"owner","text":` + strings.Repeat("[", 100000) + `}`,
		"invalid utf-8":  "{\"sender_id\":\"owner\",\"text\":\"\xff\xfe\xc3\x28 bad\"}",
		"huge array":     `{"member_ids":[` + strings.Repeat(`"x",`, 100000) + `"x"],"id":"big","name":"big"}`,
		"bare invalid":   "\xff\xff\xff",
	}
	for name, b := range bodies {
		for _, path := range []string{"/api/v1/rooms/r/messages", "/api/v1/rooms", "/api/v1/users", "/api/v1/endpoints"} {
			began := time.Now()
			r := s.Do("POST", path, b)
			if r.Status >= 500 {
				t.Errorf("%s to %s: %d %s", name, path, r.Status, r.Body)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("%s to %s took %v", name, path, took)
			}
			if name == "invalid utf-8" && path == "/api/v1/rooms/r/messages" && r.Status == http.StatusCreated {
				var m struct{ Text string }
				r.JSON(t, &m)
				// JSON decoding replaces each invalid byte with U+FFFD: stored text is valid.
				if !strings.Contains(m.Text, "bad") || !utf8.ValidString(m.Text) {
					t.Errorf("invalid UTF-8 stored as %q", m.Text)
				}
			}
		}
	}
}
