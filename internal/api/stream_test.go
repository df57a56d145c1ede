package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

type sseEvent struct {
	ID    int64
	Type  string
	Event chat.Event
}

// openStream connects to a room stream and returns a channel of parsed events.
func openStream(t *testing.T, s *apptest.Server, path, lastID string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				cur.ID, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				cur.Type = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &cur.Event)
			case line == "" && cur.Type != "":
				ch <- cur
				cur = sseEvent{}
			}
		}
	}()
	t.Cleanup(cancel)
	return ch, cancel
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no stream event within 10s")
	}
	return sseEvent{}
}

func TestStreamLiveAndResume(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "a", "name": "A"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "b", "name": "B"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"a"}})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "other", "name": "O", "member_ids": []string{"a"}})

	// Resuming from 0 replays the room's whole history first: create(1), join(2).
	ch, cancel := openStream(t, s, "/api/v1/rooms/r/stream", "0")
	if e := next(t, ch); e.ID != 1 || e.Type != chat.EventRoomCreate {
		t.Fatalf("first %+v", e)
	}
	if e := next(t, ch); e.ID != 2 || e.Type != chat.EventRoomJoin {
		t.Fatalf("second %+v", e)
	}
	// Live: a message, a join; other rooms' events are not seen.
	s.Must(201, "POST", "/api/v1/rooms/other/messages", map[string]any{"sender_id": "a", "text": "elsewhere"})
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": "one"})
	e := next(t, ch)
	if e.ID != 3 || e.Type != chat.EventMessageSend || !strings.Contains(string(e.Event.Payload), `"text":"one"`) || e.Event.ID == "" {
		t.Fatalf("live %+v", e)
	}
	s.Must(204, "POST", "/api/v1/rooms/r/members", map[string]any{"user_id": "b"})
	if e := next(t, ch); e.ID != 4 || e.Type != chat.EventRoomJoin {
		t.Fatalf("join %+v", e)
	}
	cancel()
	// While disconnected.
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "b", "text": "two"})
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": "three"})
	ch2, _ := openStream(t, s, "/api/v1/rooms/r/stream", "4")
	for i, want := range []string{"two", "three"} {
		e := next(t, ch2)
		if e.ID != int64(5+i) || !strings.Contains(string(e.Event.Payload), `"text":"`+want+`"`) {
			t.Fatalf("resumed %d: %+v", i, e)
		}
	}
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": "four"})
	if e := next(t, ch2); e.ID != 7 {
		t.Fatalf("after resume %+v", e)
	}
	// Without Last-Event-ID only new events arrive.
	ch3, _ := openStream(t, s, "/api/v1/rooms/r/stream", "")
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": "five"})
	if e := next(t, ch3); e.ID != 8 {
		t.Fatalf("fresh stream %+v", e)
	}
	wantError(t, s.Do("GET", "/api/v1/rooms/nope/stream", nil), 404, "not_found")
	wantError(t, s.Do("GET", "/api/v1/rooms/r/stream", nil, "Last-Event-ID", "x"), 400, "invalid_argument")
	wantError(t, s.Do("GET", "/api/v1/rooms/r/stream?user_id=ghost", nil), 404, "not_found")
}

func TestPresenceExpiresWithClock(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{FakeClock: true})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "a", "name": "A"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"a"}})
	present := func() bool {
		var u chat.User
		s.Must(200, "GET", "/api/v1/users/a", nil).JSON(t, &u)
		return u.Present
	}
	if present() {
		t.Fatal("present before anything")
	}
	var u chat.User
	s.Must(200, "PUT", "/api/v1/users/a/presence", map[string]any{"present": true, "ttl_seconds": 30}).JSON(t, &u)
	if !u.Present || !present() {
		t.Fatal("not present after PUT")
	}
	s.Clock.Advance(29 * time.Second)
	if !present() {
		t.Fatal("expired too early")
	}
	s.Clock.Advance(2 * time.Second)
	if present() {
		t.Fatal("still present after the TTL")
	}
	s.Must(200, "PUT", "/api/v1/users/a/presence", map[string]any{"present": true})
	s.Clock.Advance(1000 * time.Hour)
	if !present() {
		t.Fatal("presence without TTL expired")
	}
	s.Must(200, "PUT", "/api/v1/users/a/presence", map[string]any{"present": false})
	if present() {
		t.Fatal("present after present=false")
	}
	wantError(t, s.Do("PUT", "/api/v1/users/ghost/presence", map[string]any{"present": true}), 404, "not_found")
	wantError(t, s.Do("PUT", "/api/v1/users/a/presence", map[string]any{"present": true, "ttl_seconds": -1}), 400, "invalid_argument")

	// An open stream makes its user present; the lease lapses on the clock if not refreshed,
	// and closing the stream ends it.
	_, cancel := openStream(t, s, "/api/v1/rooms/r/stream?user_id=a", "")
	apptest.Eventually(t, 5*time.Second, "stream presence", present)
	var ms struct {
		Items []chat.Member `json:"items"`
	}
	s.Must(200, "GET", "/api/v1/rooms/r/members", nil).JSON(t, &ms)
	if !ms.Items[0].Present {
		t.Fatal("member not present with an open stream")
	}
	s.Clock.Advance(chat.StreamLease + time.Second)
	if present() {
		t.Fatal("stream lease did not lapse on the clock")
	}
	s.Clock.Advance(-chat.StreamLease - time.Second)
	cancel()
	apptest.Eventually(t, 5*time.Second, "presence cleared after the stream closed", func() bool { return !present() })
}
