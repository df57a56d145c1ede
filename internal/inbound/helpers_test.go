package inbound_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// hook is a created webhook with its token and URLs.
type hook = api.Webhook

// reply is an HTTP answer.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

// post sends body to url with a Content-Type (none when ""); headers are name, value pairs.
func post(t *testing.T, url, contentType, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func room(t *testing.T, s *apptest.Server, id string, members ...string) {
	t.Helper()
	for _, m := range members {
		s.Do("POST", "/api/v1/users", map[string]any{"id": m, "name": "User " + m, "alias": m, "email": m + "@example.com", "kind": "human"})
	}
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": id, "name": "Room " + id, "member_ids": members})
}

func newHook(t *testing.T, s *apptest.Server, roomID, name string) hook {
	t.Helper()
	var h hook
	s.Must(201, "POST", "/api/v1/rooms/"+roomID+"/webhooks", map[string]any{"name": name, "avatar_url": "https://example.com/a.png"}).JSON(t, &h)
	if h.Token == "" || h.URLs == nil {
		t.Fatalf("created webhook without token or urls: %+v", h)
	}
	return h
}

func messages(t *testing.T, s *apptest.Server, roomID string) []chat.Message {
	t.Helper()
	var l api.List[chat.Message]
	s.Must(200, "GET", "/api/v1/rooms/"+roomID+"/messages?limit=200", nil).JSON(t, &l)
	return l.Items
}

func lastMessage(t *testing.T, s *apptest.Server, roomID string) chat.Message {
	t.Helper()
	ms := messages(t, s, roomID)
	if len(ms) == 0 {
		t.Fatalf("room %s has no messages", roomID)
	}
	return ms[len(ms)-1]
}

// mmBody is a multipart body with text fields.
func multipartBody(fields ...string) (contentType, body string) {
	var b bytes.Buffer
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "--BOUNDARY\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", fields[i], fields[i+1])
	}
	b.WriteString("--BOUNDARY--\r\n")
	return "multipart/form-data; boundary=BOUNDARY", b.String()
}
