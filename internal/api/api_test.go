package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// eventTypes returns the outbox event types written since position *pos and advances it.
func eventTypes(t *testing.T, s *apptest.Server, pos *int64) []string {
	t.Helper()
	evs, last, err := s.Store.Events(context.Background(), *pos, 1000)
	if err != nil {
		t.Fatal(err)
	}
	*pos = last
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func wantEvents(t *testing.T, s *apptest.Server, pos *int64, want ...string) {
	t.Helper()
	got := eventTypes(t, s, pos)
	if want == nil {
		want = []string{}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
}

func wantError(t *testing.T, r apptest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.JSON(t, &body)
	if body.Error.Message == "" {
		t.Fatalf("error without a message: %s", r.Body)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error content type %q", r.Header.Get("Content-Type"))
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	wantError(t, s.DoRaw("GET", "/api/v1/users", nil), 401, "unauthenticated")
	wantError(t, s.DoRaw("GET", "/api/v1/users", nil, "Authorization", "Bearer wrong"), 401, "unauthenticated")
	wantError(t, s.DoRaw("GET", "/api/v1/users", nil, "Authorization", "Basic "+apptest.AdminToken), 401, "unauthenticated")
	s.Must(200, "GET", "/api/v1/users", nil)
	// Health and metrics need no token.
	if r := s.DoRaw("GET", "/healthz", nil); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
	if r := s.DoRaw("GET", "/readyz", nil); r.Status != 200 {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
	r := s.DoRaw("GET", "/metrics", nil)
	for _, want := range []string{"chathooks_http_requests_total", "chathooks_store_commit_batch_size", `chathooks_store_batch_reruns_total{reason="key_not_new"} 0`, "go_goroutines"} {
		if !strings.Contains(string(r.Body), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var pos int64
	var u chat.User
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice", "alias": "al", "email": "alice@example.com"}).JSON(t, &u)
	if u.ID != "alice" || u.Kind != chat.KindHuman || u.CreatedAt.IsZero() {
		t.Fatalf("created %+v", u)
	}
	var gen chat.User
	s.Must(201, "POST", "/api/v1/users", map[string]any{"name": "Bot", "kind": "agent"}).JSON(t, &gen)
	if !strings.HasPrefix(gen.ID, "usr_") || gen.Kind != chat.KindAgent {
		t.Fatalf("generated %+v", gen)
	}
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"id": "alice", "name": "Again"}, 409, "already_exists"},
		{map[string]any{"id": "x"}, 400, "invalid_argument"},                            // missing name
		{map[string]any{"name": "  "}, 400, "invalid_argument"},                         // blank name
		{map[string]any{"name": "X", "kind": "robot"}, 400, "invalid_argument"},         // bad kind
		{map[string]any{"id": "a/b", "name": "X"}, 400, "invalid_argument"},             // bad id
		{map[string]any{"name": "X", "email": "not-an-email"}, 400, "invalid_argument"}, // bad email
		{map[string]any{"name": "X", "colour": "red"}, 400, "invalid_argument"},         // unknown field
		{`{"name": "X",`, 400, "invalid_argument"},                                      // invalid JSON
		{`[]`, 400, "invalid_argument"},                                                 // wrong JSON type
		{map[string]any{"name": strings.Repeat("n", 300)}, 400, "invalid_argument"},     // too long
	} {
		wantError(t, s.Do("POST", "/api/v1/users", c.body), c.status, c.code)
	}
	s.Must(200, "GET", "/api/v1/users/alice", nil).JSON(t, &u)
	if u.Alias != "al" || u.Email != "alice@example.com" {
		t.Fatalf("get %+v", u)
	}
	wantError(t, s.Do("GET", "/api/v1/users/nobody", nil), 404, "not_found")
	for i := 0; i < 5; i++ {
		s.Must(201, "POST", "/api/v1/users", map[string]any{"id": fmt.Sprintf("p%d", i), "name": "P"})
	}
	var seen []string
	cursor := ""
	for {
		var l struct {
			Items      []chat.User `json:"items"`
			NextCursor string      `json:"next_cursor"`
		}
		s.Must(200, "GET", "/api/v1/users?limit=3&cursor="+cursor, nil).JSON(t, &l)
		for _, u := range l.Items {
			seen = append(seen, u.ID)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if len(seen) != 7 || seen[0] != "alice" {
		t.Fatalf("paged users %v", seen)
	}
	wantError(t, s.Do("GET", "/api/v1/users?limit=1000", nil), 400, "invalid_argument")
	wantEvents(t, s, &pos) // creating users emits no events
	s.Must(204, "DELETE", "/api/v1/users/p0", nil)
	wantError(t, s.Do("DELETE", "/api/v1/users/p0", nil), 404, "not_found")
}

func TestRoomsMembersAndInvites(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var pos int64
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.Must(201, "POST", "/api/v1/users", map[string]any{"id": u, "name": strings.ToUpper(u[:1]) + u[1:]})
	}
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "bot", "name": "Bot", "kind": "agent"})

	// A room naming an unknown member is not created, and nothing is emitted.
	wantError(t, s.Do("POST", "/api/v1/rooms", map[string]any{"id": "r0", "name": "R", "member_ids": []string{"alice", "ghost"}}), 404, "not_found")
	wantError(t, s.Do("GET", "/api/v1/rooms/r0", nil), 404, "not_found")
	wantEvents(t, s, &pos)

	var room chat.Room
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Ops", "creator_id": "alice", "member_ids": []string{"bob", "bot", "bob"}}).JSON(t, &room)
	if room.MemberCount != 3 || room.CreatorID != "alice" {
		t.Fatalf("room %+v", room)
	}
	wantEvents(t, s, &pos, chat.EventRoomCreate, chat.EventRoomJoin)
	wantError(t, s.Do("POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Again"}), 409, "already_exists")
	wantError(t, s.Do("POST", "/api/v1/rooms", map[string]any{"id": "x"}), 400, "invalid_argument")
	wantEvents(t, s, &pos)

	s.Must(200, "PATCH", "/api/v1/rooms/ops", map[string]any{"name": "Operations"}).JSON(t, &room)
	if room.Name != "Operations" {
		t.Fatalf("renamed %+v", room)
	}
	wantError(t, s.Do("PATCH", "/api/v1/rooms/nope", map[string]any{"name": "N"}), 404, "not_found")
	wantError(t, s.Do("PATCH", "/api/v1/rooms/ops", map[string]any{}), 400, "invalid_argument")
	wantEvents(t, s, &pos, chat.EventRoomChanged)

	s.Must(204, "POST", "/api/v1/rooms/ops/members", map[string]any{"user_id": "carol"})
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/members", map[string]any{"user_id": "carol"}), 409, "already_exists")
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/members", map[string]any{"user_id": "ghost"}), 404, "not_found")
	wantError(t, s.Do("POST", "/api/v1/rooms/nope/members", map[string]any{"user_id": "carol"}), 404, "not_found")
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/members", map[string]any{}), 400, "invalid_argument")
	wantEvents(t, s, &pos, chat.EventRoomJoin)

	s.Must(204, "DELETE", "/api/v1/rooms/ops/members/carol", nil)
	wantError(t, s.Do("DELETE", "/api/v1/rooms/ops/members/carol", nil), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventRoomLeave)

	s.Must(204, "POST", "/api/v1/rooms/ops/invites", map[string]any{"inviter_id": "alice", "user_ids": []string{"carol", "dave", "bob"}})
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/invites", map[string]any{"inviter_id": "ghost", "user_ids": []string{"carol"}}), 404, "not_found")
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "erin", "name": "Erin"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "frank", "name": "Frank"})
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/invites", map[string]any{"inviter_id": "erin", "user_ids": []string{"frank"}}), 403, "permission_denied")
	wantError(t, s.Do("POST", "/api/v1/rooms/ops/invites", map[string]any{"inviter_id": "alice", "user_ids": []string{}}), 400, "invalid_argument")
	wantEvents(t, s, &pos, chat.EventRoomInvite)

	var members struct {
		Items []chat.Member `json:"items"`
	}
	s.Must(200, "GET", "/api/v1/rooms/ops/members", nil).JSON(t, &members)
	var ids []string
	for _, m := range members.Items {
		ids = append(ids, m.ID)
	}
	if fmt.Sprint(ids) != "[alice bob bot carol dave]" {
		t.Fatalf("members %v", ids)
	}
	wantError(t, s.Do("GET", "/api/v1/rooms/nope/members", nil), 404, "not_found")

	var rooms struct {
		Items []chat.Room `json:"items"`
	}
	s.Must(200, "GET", "/api/v1/rooms", nil).JSON(t, &rooms)
	if len(rooms.Items) != 1 || rooms.Items[0].MemberCount != 5 {
		t.Fatalf("rooms %+v", rooms.Items)
	}

	// Deleting a member user makes them leave their rooms.
	s.Must(204, "DELETE", "/api/v1/users/dave", nil)
	wantEvents(t, s, &pos, chat.EventRoomLeave)
	s.Must(204, "DELETE", "/api/v1/rooms/ops", nil)
	wantError(t, s.Do("DELETE", "/api/v1/rooms/ops", nil), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventRoomRemove)
}

func TestMessages(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var pos int64
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice", "alias": "al"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "bob", "name": "Bob", "email": "bob@example.com"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "eve", "name": "Eve"})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"alice", "bob"}})
	eventTypes(t, s, &pos)

	var m chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "hi **bob** @bob@example.com <script>alert(1)</script>"}).JSON(t, &m)
	if m.ThreadID != m.ID || m.Sender.Type != "user" || m.Sender.Name != "Alice" || m.Format != "markdown" {
		t.Fatalf("message %+v", m)
	}
	if !strings.Contains(m.HTML, "<strong>bob</strong>") || strings.Contains(m.HTML, "<script") {
		t.Fatalf("html %q", m.HTML)
	}
	if len(m.Mentions) != 1 || m.Mentions[0].UserID != "bob" {
		t.Fatalf("mentions %+v", m.Mentions)
	}
	wantEvents(t, s, &pos, chat.EventMessageSend)

	for _, c := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "eve", "text": "let me in"}, 403, "permission_denied"},
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "ghost", "text": "boo"}, 404, "not_found"},
		{"/api/v1/rooms/nope/messages", map[string]any{"sender_id": "alice", "text": "x"}, 404, "not_found"},
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "  "}, 400, "invalid_argument"},
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice"}, 400, "invalid_argument"},
		{"/api/v1/rooms/r/messages", map[string]any{"text": "who"}, 400, "invalid_argument"},
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "x", "thread_id": "msg_nope"}, 404, "not_found"},
		{"/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": strings.Repeat("x", chat.MaxTextBytes+1)}, 400, "invalid_argument"},
		{"/api/v1/rooms/r/messages", `{"sender_id":"alice","text":"x"`, 400, "invalid_argument"},
	} {
		wantError(t, s.Do("POST", c.path, c.body), c.status, c.code)
	}
	wantEvents(t, s, &pos) // failed posts leave no event

	var reply chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "bob", "text": "reply", "thread_id": m.ID}).JSON(t, &reply)
	if reply.ThreadID != m.ID {
		t.Fatalf("reply thread %q want %q", reply.ThreadID, m.ID)
	}
	// Replying to a reply joins the same thread.
	var reply2 chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "bob", "text": "reply 2", "thread_id": reply.ID}).JSON(t, &reply2)
	if reply2.ThreadID != m.ID {
		t.Fatalf("reply2 thread %q", reply2.ThreadID)
	}
	var other chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "other"}).JSON(t, &other)

	// Idempotency-Key: a repeat returns the original and creates nothing.
	var i1, i2 chat.Message
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "once"}, "Idempotency-Key", "k1").JSON(t, &i1)
	s.Must(201, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "alice", "text": "once"}, "Idempotency-Key", "k1").JSON(t, &i2)
	if i1.ID != i2.ID {
		t.Fatalf("idempotent repeat created %s and %s", i1.ID, i2.ID)
	}
	wantEvents(t, s, &pos, chat.EventMessageSend, chat.EventMessageSend, chat.EventMessageSend, chat.EventMessageSend)

	list := func(q string) string {
		var l struct {
			Items []chat.Message `json:"items"`
		}
		s.Must(200, "GET", "/api/v1/rooms/r/messages"+q, nil).JSON(t, &l)
		var out []string
		for _, x := range l.Items {
			out = append(out, x.Text)
		}
		return strings.Join(out, ",")
	}
	if got := list(""); !strings.HasPrefix(got, "hi **bob**") || !strings.HasSuffix(got, "reply,reply 2,other,once") {
		t.Fatalf("list %q", got)
	}
	if got := list("?thread_id=" + m.ID + "&after=" + m.ID); got != "reply,reply 2" {
		t.Fatalf("thread list %q", got)
	}
	if got := list("?before=" + other.ID + "&limit=2"); got != "reply,reply 2" {
		t.Fatalf("before list %q", got)
	}
	if got := list("?after=" + reply2.ID + "&limit=1"); got != "other" {
		t.Fatalf("after list %q", got)
	}
	wantError(t, s.Do("GET", "/api/v1/rooms/nope/messages", nil), 404, "not_found")

	var got chat.Message
	s.Must(200, "GET", "/api/v1/rooms/r/messages/"+other.ID, nil).JSON(t, &got)
	if got.Text != "other" || !got.CreatedAt.Equal(other.CreatedAt) {
		t.Fatalf("get %+v vs %+v", got, other)
	}
	wantError(t, s.Do("GET", "/api/v1/rooms/r/messages/msg_nope", nil), 404, "not_found")

	var edited chat.Message
	s.Must(200, "PATCH", "/api/v1/rooms/r/messages/"+other.ID, map[string]any{"text": "_edited_ @al"}).JSON(t, &edited)
	if edited.Text != "_edited_ @al" || edited.UpdatedAt == nil || !strings.Contains(edited.HTML, "<em>edited</em>") || len(edited.Mentions) != 1 {
		t.Fatalf("edited %+v", edited)
	}
	wantError(t, s.Do("PATCH", "/api/v1/rooms/r/messages/"+other.ID, map[string]any{"text": ""}), 400, "invalid_argument")
	wantError(t, s.Do("PATCH", "/api/v1/rooms/r/messages/msg_nope", map[string]any{"text": "x"}), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventMessageUpdate)

	// Read state.
	var rs map[string]any
	s.Must(200, "POST", "/api/v1/rooms/r/read", map[string]any{"user_id": "bob"}).JSON(t, &rs)
	if rs["message_id"] != i1.ID {
		t.Fatalf("read latest %+v, want %s", rs, i1.ID)
	}
	s.Must(200, "POST", "/api/v1/rooms/r/read", map[string]any{"user_id": "alice", "message_id": m.ID})
	wantError(t, s.Do("POST", "/api/v1/rooms/r/read", map[string]any{"user_id": "eve"}), 403, "permission_denied")
	wantError(t, s.Do("POST", "/api/v1/rooms/r/read", map[string]any{"user_id": "alice", "message_id": "msg_nope"}), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventMessageRead, chat.EventMessageRead)
	var members struct {
		Items []chat.Member `json:"items"`
	}
	s.Must(200, "GET", "/api/v1/rooms/r/members", nil).JSON(t, &members)
	if members.Items[0].LastReadMessageID != m.ID || members.Items[1].LastReadMessageID != i1.ID {
		t.Fatalf("read state %+v", members.Items)
	}

	s.Must(204, "DELETE", "/api/v1/rooms/r/messages/"+other.ID, nil)
	wantError(t, s.Do("DELETE", "/api/v1/rooms/r/messages/"+other.ID, nil), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventMessageDelete)
}

func TestBlocks(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var pos int64
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "a", "name": "A"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "b", "name": "B", "kind": "agent"})
	s.Must(204, "POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "b"})
	wantError(t, s.Do("POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "b"}), 409, "already_exists")
	wantError(t, s.Do("POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "a"}), 400, "invalid_argument")
	wantError(t, s.Do("POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "zz"}), 404, "not_found")
	wantError(t, s.Do("POST", "/api/v1/users/zz/blocks", map[string]any{"target_id": "a"}), 404, "not_found")
	wantError(t, s.Do("POST", "/api/v1/users/a/blocks", map[string]any{}), 400, "invalid_argument")
	wantEvents(t, s, &pos, chat.EventUserBlock)
	evs, _, _ := s.Store.Events(context.Background(), 0, 10)
	if len(evs) != 1 || fmt.Sprint(evs[0].Agents) != "[b]" || !strings.Contains(string(evs[0].Payload), `"blocker":{"id":"a"`) {
		t.Fatalf("block event %+v %s", evs, evs[0].Payload)
	}
	s.Must(204, "DELETE", "/api/v1/users/a/blocks/b", nil)
	wantError(t, s.Do("DELETE", "/api/v1/users/a/blocks/b", nil), 404, "not_found")
	wantEvents(t, s, &pos, chat.EventUserUnblock)
}

func TestBodyLimitsAndContentType(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	wantError(t, s.Do("POST", "/api/v1/users", big), 413, "payload_too_large")
	// JSON is accepted whatever the Content-Type says.
	r := s.Do("POST", "/api/v1/users", `{"id":"t","name":"T"}`, "Content-Type", "text/plain")
	if r.Status != 201 {
		t.Fatalf("text/plain JSON: %d %s", r.Status, r.Body)
	}
	r = s.Do("POST", "/api/v1/users", `{"id":"u","name":"U"}`, "Content-Type", "")
	if r.Status != 201 {
		t.Fatalf("no content type: %d %s", r.Status, r.Body)
	}
	// No CORS grants, ever.
	r = s.DoRaw("OPTIONS", "/api/v1/users", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-allow") {
			t.Fatalf("CORS header %s on preflight", k)
		}
	}
	if r.Status == http.StatusOK || r.Status == http.StatusNoContent {
		t.Fatalf("preflight answered %d", r.Status)
	}
}
