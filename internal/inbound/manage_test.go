package inbound_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
)

func TestManagement(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.BaseURL = "https://chat.example.com/" }})
	room(t, s, "m")
	r := s.Must(201, "POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": "Deploys", "avatar_url": "https://example.com/d.png"})
	var raw map[string]json.RawMessage
	r.JSON(t, &raw)
	for _, k := range []string{"id", "room_id", "name", "avatar_url", "token", "urls", "created_at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("create response lacks %s: %s", k, r.Body)
		}
	}
	var h hook
	r.JSON(t, &h)
	if h.RoomID != "m" || h.Name != "Deploys" || h.AvatarURL != "https://example.com/d.png" || h.CreatedAt.IsZero() {
		t.Fatalf("%+v", h)
	}
	if len(h.Token) < 43 || url.PathEscape(h.Token) != h.Token || url.QueryEscape(h.Token) != h.Token {
		t.Fatalf("token %q is not long and URL-safe", h.Token)
	}
	want := map[string]string{
		"chime":       "https://chat.example.com/incomingwebhooks/" + h.ID + "?token=" + h.Token,
		"google_chat": "https://chat.example.com/v1/spaces/m/messages?key=" + h.ID + "&token=" + h.Token,
		"slack":       "https://chat.example.com/services/m/" + h.ID + "/" + h.Token,
		"mattermost":  "https://chat.example.com/hooks/" + h.Token,
	}
	var urls map[string]string
	_ = json.Unmarshal(raw["urls"], &urls)
	if fmt.Sprint(urls) != fmt.Sprint(want) {
		t.Fatalf("urls %v\nwant %v", urls, want)
	}

	// Get and list never show the token (it is stored hashed).
	g := s.Must(200, "GET", "/api/v1/webhooks/"+h.ID, nil)
	if strings.Contains(string(g.Body), h.Token) || strings.Contains(string(g.Body), `"token"`) {
		t.Fatalf("get shows the token: %s", g.Body)
	}
	var got hook
	g.JSON(t, &got)
	if got.ID != h.ID || got.Name != "Deploys" || !got.CreatedAt.Equal(h.CreatedAt) {
		t.Fatalf("get %+v", got)
	}
	l := s.Must(200, "GET", "/api/v1/rooms/m/webhooks", nil)
	if strings.Contains(string(l.Body), h.Token) || !strings.Contains(string(l.Body), `"next_cursor"`) {
		t.Fatalf("list %s", l.Body)
	}

	// At most 10 per room.
	for i := 2; i <= 10; i++ {
		s.Must(201, "POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": fmt.Sprint("h", i)})
	}
	if r := s.Do("POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": "eleventh"}); r.Status != 409 || r.ErrorCode() != "limit_exceeded" {
		t.Fatalf("11th: %d %s", r.Status, r.Body)
	}
	var list struct{ Items []hook }
	s.Must(200, "GET", "/api/v1/rooms/m/webhooks", nil).JSON(t, &list)
	if len(list.Items) != 10 {
		t.Fatalf("%d webhooks listed", len(list.Items))
	}

	// Validation and unknown things.
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/v1/rooms/nope/webhooks", map[string]any{"name": "x"}, 404, "not_found"},
		{"POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": " "}, 400, "invalid_argument"},
		{"POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": "x", "avatar_url": "javascript:alert(1)"}, 400, "invalid_argument"},
		{"POST", "/api/v1/rooms/m/webhooks", map[string]any{"name": "x", "avatar_url": "ftp://example.com/a.png"}, 400, "invalid_argument"},
		{"GET", "/api/v1/rooms/nope/webhooks", nil, 404, "not_found"},
		{"GET", "/api/v1/webhooks/nope", nil, 404, "not_found"},
		{"POST", "/api/v1/webhooks/nope/regenerate", nil, 404, "not_found"},
		{"DELETE", "/api/v1/webhooks/nope", nil, 404, "not_found"},
	} {
		r := s.Do(c.method, c.path, c.body)
		if r.Status != c.status || r.ErrorCode() != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.Status, r.Body, c.status, c.code)
		}
	}
	if r := s.DoRaw("GET", "/api/v1/webhooks/"+h.ID, nil); r.Status != 401 {
		t.Errorf("unauthenticated get: %d", r.Status)
	}

	// Regenerate: a new token; the old URLs answer 404 (gone), the new ones work.
	var re hook
	s.Must(200, "POST", "/api/v1/webhooks/"+h.ID+"/regenerate", nil).JSON(t, &re)
	if re.Token == "" || re.Token == h.Token || re.ID != h.ID || re.URLs == nil || !strings.Contains(re.URLs.Slack, re.Token) {
		t.Fatalf("regenerate %+v", re)
	}
	base := s.URL
	local := func(u string) string { return strings.Replace(u, "https://chat.example.com", base, 1) }
	if r := post(t, local(h.URLs.Chime), "", `{"Content":"x"}`); r.Status != 404 {
		t.Fatalf("old URL: %d %s", r.Status, r.Body)
	}
	if r := post(t, local(re.URLs.Chime), "", `{"Content":"x"}`); r.Status != 200 {
		t.Fatalf("new URL: %d %s", r.Status, r.Body)
	}
	s.Must(204, "DELETE", "/api/v1/webhooks/"+h.ID, nil)
	s.Must(404, "GET", "/api/v1/webhooks/"+h.ID, nil)
	if r := post(t, local(re.URLs.Chime), "", `{"Content":"x"}`); r.Status != 404 {
		t.Fatalf("deleted URL: %d %s", r.Status, r.Body)
	}
	// A deleted room deletes its webhooks.
	s.Must(204, "DELETE", "/api/v1/rooms/m", nil)
	s.Must(404, "GET", "/api/v1/webhooks/"+list.Items[1].ID, nil)
}
