package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
)

// FuzzCursorsAndLastEventID sends arbitrary Last-Event-ID headers, message cursors
// (after, before, thread_id), list cursors and limits to a real server: every answer is a
// 2xx or 4xx with a JSON body (an SSE stream for a good Last-Event-ID), never a 5xx.
func FuzzCursorsAndLastEventID(f *testing.F) {
	s := apptest.Start(f, apptest.Options{})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "u", "name": "U"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"u"}})
	var m struct{ ID string }
	for range 3 {
		s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "u", "text": "hi"}).JSON(f, &m)
	}
	var ep struct{ ID string }
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": "http://127.0.0.1:9/x", "event_types": []string{"*"}}).JSON(f, &ep)
	f.Add("0", m.ID, "", "", "", "10")
	f.Add("-1", "msg_zzz", m.ID, m.ID, "r", "0")
	f.Add("99999999999999999999", "' OR 1=1 --", "../../etc/passwd", "\x00", "%", "201")
	f.Add("1e3", "", "", "", "eyJhIjoxfQ", "-5")
	f.Add(" 2", "\xff", "", "", "", "abc")
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, lastID, after, before, thread, cursor, limit string) {
		check := func(req *http.Request, stream bool) {
			req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
			resp, err := client.Do(req)
			if err != nil {
				return // a header value net/http will not send
			}
			defer resp.Body.Close()
			if resp.StatusCode >= 500 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, b)
			}
			if stream && resp.StatusCode == http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Fatalf("stream answered 200 with %q", ct)
				}
				return
			}
			var v any
			if b, _ := io.ReadAll(resp.Body); json.Unmarshal(b, &v) != nil {
				t.Fatalf("%s %s: %d with a non-JSON body %q", req.Method, req.URL, resp.StatusCode, b)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/rooms/r/stream", nil)
		req.Header.Set("Last-Event-ID", lastID)
		check(req, true)
		q := url.Values{"after": {after}, "before": {before}, "thread_id": {thread}, "limit": {limit}}
		req, _ = http.NewRequest("GET", s.URL+"/api/v1/rooms/r/messages?"+q.Encode(), nil)
		check(req, false)
		q = url.Values{"cursor": {cursor}, "limit": {limit}}
		for _, p := range []string{"/api/v1/rooms", "/api/v1/users", "/api/v1/endpoints", "/api/v1/endpoints/" + ep.ID + "/deliveries", "/api/v1/rooms/r/members", "/api/v1/rooms/r/webhooks"} {
			req, _ = http.NewRequest("GET", s.URL+p+"?"+q.Encode(), nil)
			check(req, false)
		}
	})
}
