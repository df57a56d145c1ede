package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

func texts(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

// order=desc gives the latest page newest first and pages back with before=<next_cursor>;
// the default forms keep working.
func TestListMessagesNewestFirst(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "a", "name": "A"})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"a"}})
	for i := 1; i <= 7; i++ {
		s.Must(http.StatusCreated, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": fmt.Sprintf("m%d", i)})
	}
	get := func(q string) api.List[chat.Message] {
		t.Helper()
		var l api.List[chat.Message]
		s.Must(http.StatusOK, "GET", "/api/v1/rooms/r/messages?"+q, nil).JSON(t, &l)
		return l
	}
	p1 := get("order=desc&limit=3")
	if fmt.Sprint(texts(p1.Items)) != "[m7 m6 m5]" || p1.NextCursor != p1.Items[2].ID {
		t.Fatalf("latest page: %v cursor %q", texts(p1.Items), p1.NextCursor)
	}
	p2 := get("order=desc&limit=3&before=" + p1.NextCursor)
	if fmt.Sprint(texts(p2.Items)) != "[m4 m3 m2]" {
		t.Fatalf("second page: %v", texts(p2.Items))
	}
	p3 := get("order=desc&limit=3&before=" + p2.NextCursor)
	if fmt.Sprint(texts(p3.Items)) != "[m1]" || p3.NextCursor != "" {
		t.Fatalf("last page: %v cursor %q", texts(p3.Items), p3.NextCursor)
	}
	if l := get("order=desc&limit=3&after=" + p3.Items[0].ID + "&before=" + p1.Items[1].ID); fmt.Sprint(texts(l.Items)) != "[m5 m4 m3]" {
		t.Fatalf("desc within a range: %v", texts(l.Items))
	}
	// Existing forms: oldest first, after=<cursor>, and before alone (ascending).
	if l := get("limit=3"); fmt.Sprint(texts(l.Items)) != "[m1 m2 m3]" {
		t.Fatalf("default order: %v", texts(l.Items))
	}
	if l := get("order=asc&limit=3&after=" + p2.Items[0].ID); fmt.Sprint(texts(l.Items)) != "[m5 m6 m7]" {
		t.Fatalf("after: %v", texts(l.Items))
	}
	if l := get("limit=2&before=" + p1.Items[0].ID); fmt.Sprint(texts(l.Items)) != "[m5 m6]" {
		t.Fatalf("before alone: %v", texts(l.Items))
	}
	if r := s.Do("GET", "/api/v1/rooms/r/messages?order=sideways", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad order: %d %s", r.Status, r.Body)
	}
}

// A block hides the blocked user's messages from the blocker's reads and live stream, and
// from no one else's; GET /users/{id}/blocks lists it; unblocking shows them again.
func TestBlockHidesMessagesFromTheBlocker(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	for _, u := range []string{"alice", "bob", "carol"} {
		s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": u, "name": u})
	}
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"alice", "bob", "carol"}})
	post := func(from, text string) {
		s.Must(http.StatusCreated, "POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": from, "text": text})
	}
	post("bob", "before the block")
	s.Must(http.StatusNoContent, "POST", "/api/v1/users/alice/blocks", map[string]any{"target_id": "bob"})

	var blocks api.List[chat.Block]
	s.Must(http.StatusOK, "GET", "/api/v1/users/alice/blocks", nil).JSON(t, &blocks)
	if len(blocks.Items) != 1 || blocks.Items[0].TargetID != "bob" || blocks.Items[0].UserID != "alice" || blocks.Items[0].CreatedAt.IsZero() {
		t.Fatalf("blocks: %+v", blocks)
	}
	s.Must(http.StatusOK, "GET", "/api/v1/users/bob/blocks", nil).JSON(t, &blocks)
	if len(blocks.Items) != 0 {
		t.Fatalf("bob blocks %+v", blocks.Items)
	}
	if r := s.Do("GET", "/api/v1/users/nobody/blocks", nil); r.Status != http.StatusNotFound {
		t.Fatalf("blocks of an unknown user: %d", r.Status)
	}

	aliceStream, _ := openStream(t, s, "/api/v1/rooms/r/stream?user_id=alice", "0")
	carolStream, _ := openStream(t, s, "/api/v1/rooms/r/stream?user_id=carol", "0")
	post("bob", "during the block")
	post("carol", "carol speaks")

	seen := func(ch <-chan sseEvent, until string) []string {
		t.Helper()
		var got []string
		for {
			e := next(t, ch)
			if e.Type != chat.EventMessageSend {
				continue
			}
			snd, _ := chat.MessageSender(e.Event)
			got = append(got, snd.ID)
			if snd.ID == until {
				return got
			}
		}
	}
	// Catch-up and live events alike: alice sees none of bob's messages, carol sees all.
	if got := fmt.Sprint(seen(aliceStream, "carol")); got != "[carol]" {
		t.Fatalf("alice's stream shows messages from %s", got)
	}
	if got := fmt.Sprint(seen(carolStream, "carol")); got != "[bob bob carol]" {
		t.Fatalf("carol's stream shows messages from %s", got)
	}

	read := func(viewer string) string {
		var l api.List[chat.Message]
		s.Must(http.StatusOK, "GET", "/api/v1/rooms/r/messages?user_id="+viewer, nil).JSON(t, &l)
		return fmt.Sprint(texts(l.Items))
	}
	if got := read("alice"); got != "[carol speaks]" {
		t.Fatalf("alice reads %s", got)
	}
	if got := read("carol"); got != "[before the block during the block carol speaks]" {
		t.Fatalf("carol reads %s", got)
	}
	if r := s.Do("GET", "/api/v1/rooms/r/messages?user_id=nobody", nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown viewer: %d", r.Status)
	}

	s.Must(http.StatusNoContent, "DELETE", "/api/v1/users/alice/blocks/bob", nil)
	post("bob", "after the block")
	if got := fmt.Sprint(seen(aliceStream, "bob")); got != "[bob]" {
		t.Fatalf("after unblocking alice's stream shows %s", got)
	}
	if got := read("alice"); got != "[before the block during the block carol speaks after the block]" {
		t.Fatalf("after unblocking alice reads %s", got)
	}
}
