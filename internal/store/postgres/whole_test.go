package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// openWrappedAt is openWrapped on the database at url (to share it with another node).
func openWrappedAt[W sqlstore.WriterConn](t *testing.T, url string, o postgres.Options, wrap func(sqlstore.WriterConn) W) (*sqlstore.Store, W) {
	t.Helper()
	var w W
	postgres.WrapWriters(&o, func(c sqlstore.WriterConn) sqlstore.WriterConn { w = wrap(c); return w })
	s, err := postgres.Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, w
}

// twoNodes opens two nodes on one new database: node A with one writer whose round trips
// are recorded, and why its batches ran again, and node B.
func twoNodes(t *testing.T) (a *sqlstore.Store, rt *roundTrips, b *sqlstore.Store, reruns *storetest.RerunLog) {
	t.Helper()
	url := pgtest.URL(t)
	reruns = &storetest.RerunLog{}
	a, rt = openWrappedAt(t, url, postgres.Options{Options: sqlstore.Options{NodeID: "node-a", ObserveRerun: reruns.Add}, Writers: 1, ReadConns: 1}, newRoundTrips)
	return a, rt, openNode(t, url, "node-b", 1), reruns
}

// postIn is a write like a post's: the room read through the cache, the routes, a message
// and its event (statements whose results nobody waits for).
func postIn(room, id string, now time.Time, got *[]string, routes *[]string) func(chat.Tx) error {
	return func(tx chat.Tx) error {
		_, agents, err := tx.RoomForPost(room)
		if err != nil {
			return err
		}
		r, err := tx.EndpointRoutes()
		if err != nil {
			return err
		}
		*got, *routes = agents, r.Match(chat.EventMessageSend, agents, "")
		m := chat.Message{ID: id, RoomID: room, ThreadID: id, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh", Name: "W"},
			Text: "t", Format: "markdown", HTML: "<p>t</p>", Mentions: []chat.Mention{}, CreatedAt: now}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		return tx.AppendEvent(&chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: room, CreatedAt: now, Payload: []byte(`{}`)})
	}
}

// userRoomThenPosts writes user "u" and room "r" through setup, then two posts to "r"
// through s: the first begins the usual way (it reads the room cache generation and the
// endpoint version), the second is sent whole.
func userRoomThenPosts(t *testing.T, setup, s *sqlstore.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := setup.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "u", Name: "U", Kind: chat.KindHuman, CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "R", CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	var agents, routes []string
	for _, id := range []string{"m0", "m1"} {
		if err := s.Write(ctx, postIn("r", id, now, &agents, &routes)); err != nil {
			t.Fatal(err)
		}
	}
}

// A batch prepared with the caches as the node's last batch left them is sent whole:
// BEGIN, the batch lock, the guard, its statements and COMMIT in one round trip. When
// another node changed the room cache generation or the endpoint version meanwhile, the
// guard fails the transaction before anything of it runs, and the batch runs again begun
// the usual way, reading what the other node changed; it commits once.
func TestWholeBatchGuardSeesOtherNodes(t *testing.T) {
	t.Parallel()
	a, rt, b, _ := twoNodes(t)
	ctx := context.Background()
	now := time.Now()
	write := func(s *sqlstore.Store, fn func(chat.Tx) error) {
		t.Helper()
		if err := s.Write(chat.WithPost(ctx, chat.PostHint{Room: "r"}), fn); err != nil {
			t.Fatal(err)
		}
	}
	write(b, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "x1", Name: "x1", Kind: chat.KindAgent, CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "R", CreatedAt: now, UpdatedAt: now})
	})
	var agents, routes []string
	write(a, postIn("r", "m0", now, &agents, &routes)) // begun the usual way: reads the generation and the version
	rt.reset()
	write(a, postIn("r", "m1", now, &agents, &routes))
	sent := rt.trips()
	if len(sent) != 1 || !strings.HasPrefix(sent[0], "BEGIN | SELECT pg_advisory_xact_lock") || !strings.Contains(sent[0], "chathooks_batch_guard") ||
		!strings.Contains(sent[0], "INSERT INTO messages") || !strings.HasSuffix(sent[0], "COMMIT") {
		t.Fatalf("a post with its room and routes cached: %d round trips %q; want one: BEGIN, the lock, the guard, the statements, COMMIT", len(sent), sent)
	}

	stale := func(what, id string) {
		t.Helper()
		rt.reset()
		write(a, postIn("r", id, now, &agents, &routes))
		sent := rt.trips()
		if len(sent) < 3 || !strings.Contains(sent[0], "chathooks_batch_guard") || !strings.HasSuffix(sent[0], "COMMIT") ||
			!strings.Contains(sent[2], "room_cache_generation") {
			t.Fatalf("after node B changed %s: round trips %q; want the whole batch, then (its guard failed) ROLLBACK and a begun batch", what, sent)
		}
		if _, err := a.GetMessage(ctx, "r", id); err != nil {
			t.Fatalf("message %s: %v", id, err)
		}
	}
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "x1", now) })
	stale("a member", "m2")
	if !slices.Equal(agents, []string{"x1"}) {
		t.Fatalf("node A's post read agents %v after node B added x1", agents)
	}
	write(b, func(tx chat.Tx) error {
		return tx.InsertEndpoint(chat.Endpoint{ID: "e", URL: "https://example.com/e", EventTypes: []string{"*"}, Format: chat.FormatStandard,
			SecretSealed: "sealed", Status: chat.EndpointActive, CreatedAt: now, UpdatedAt: now})
	})
	stale("an endpoint", "m3")
	if !slices.Equal(routes, []string{"e"}) {
		t.Fatalf("node A's post routed to %v after node B created endpoint e", routes)
	}
	// And the batch after that is whole again.
	rt.reset()
	write(a, postIn("r", "m4", now, &agents, &routes))
	if sent := rt.trips(); len(sent) != 1 {
		t.Fatalf("%d round trips %q; want one", len(sent), sent)
	}
	// While another node is heard writing, batches are begun before they are gathered.
	a.OtherNodeWrote()
	if !a.OthersWriting() {
		t.Fatal("OthersWriting is false right after OtherNodeWrote")
	}
	rt.reset()
	write(a, postIn("r", "m5", now, &agents, &routes))
	if sent := rt.trips(); len(sent) != 2 || !strings.Contains(sent[0], "room_cache_generation") || strings.Contains(sent[0], "chathooks_batch_guard") {
		t.Fatalf("with another node writing: round trips %q; want BEGIN with the lock and the reads, then the statements with COMMIT", sent)
	}
}

// A request of a whole batch that needs an answer from the database (here a read) begins
// the transaction with it: BEGIN, the lock and the guard go in that read's round trip, and
// the COMMIT in the next.
func TestWholeBatchBeginsWithItsFirstRead(t *testing.T) {
	t.Parallel()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	ctx := context.Background()
	now := time.Now()
	userRoomThenPosts(t, s, s, now)
	rt.reset()
	var name string
	if err := s.Write(ctx, func(tx chat.Tx) error {
		u, err := tx.GetUser("u")
		name = u.Name
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sent := rt.trips()
	if name != "U" || len(sent) != 2 || !strings.HasPrefix(sent[0], "BEGIN | SELECT pg_advisory_xact_lock") ||
		!strings.Contains(sent[0], "chathooks_batch_guard") || !strings.Contains(sent[0], "FROM users") || sent[1] != "COMMIT" {
		t.Fatalf("read %q in %d round trips %q; want BEGIN, the lock, the guard and the read, then COMMIT", name, len(sent), sent)
	}
}

// A whole batch whose first statement is a query (sent after BEGIN, the lock and the
// guard went in a round trip of their own) runs again begun when the guard finds the
// caches stale: the request sees what the other node wrote, not the guard's error.
func TestWholeBatchStaleBeforeAQuery(t *testing.T) {
	t.Parallel()
	a, rt, b, reruns := twoNodes(t)
	ctx := context.Background()
	now := time.Now()
	userRoomThenPosts(t, b, a, now)
	if err := b.Write(ctx, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) }); err != nil {
		t.Fatal(err)
	}
	rt.reset()
	var rooms []string
	if err := a.Write(ctx, func(tx chat.Tx) error {
		var err error
		rooms, err = tx.UserRoomIDs("u")
		return err
	}); err != nil {
		t.Fatalf("a query in a batch prepared with stale caches: %v", err)
	}
	sent := rt.trips()
	if !slices.Equal(rooms, []string{"r"}) || len(sent) < 3 || !strings.Contains(sent[0], "chathooks_batch_guard") || !strings.Contains(sent[2], "room_cache_generation") {
		t.Fatalf("rooms %v in round trips %q; want [r], read after the guard failed and the batch began again", rooms, sent)
	}
	if got := reruns.Take(); !slices.Equal(got, []string{sqlstore.RerunNotBegun}) {
		t.Fatalf("node A's batch ran again for %q, want once, not begun", got)
	}
}

// A whole batch whose requests all fail from the caches alone (here a post by a sender
// the room cache holds as no member) writes nothing, but still sends BEGIN, the lock and
// the guard before it answers: after another node added the member, the guard fails and
// the request runs again begun, and the post goes in.
func TestWholeBatchFailedFromCachesIsGuarded(t *testing.T) {
	t.Parallel()
	a, rt, b, reruns := twoNodes(t)
	ctx := context.Background()
	now := time.Now()
	userRoomThenPosts(t, b, a, now)
	post := func(id string) (error, []string) {
		t.Helper()
		rt.reset()
		err := a.Write(ctx, func(tx chat.Tx) error {
			_, in, err := tx.UserInRoom("r", "u")
			if err != nil {
				return err
			}
			if !in {
				return chat.Errorf(chat.CodePermissionDenied, "u is not a member of r")
			}
			return tx.InsertMessage(chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderUser, ID: "u", Name: "U"},
				Text: "t", Format: "markdown", HTML: "<p>t</p>", Mentions: []chat.Mention{}, CreatedAt: now})
		})
		return err, rt.trips()
	}
	if err, _ := post("m2"); !chat.IsCode(err, chat.CodePermissionDenied) {
		t.Fatalf("a post by u before anyone added them: %v, want permission denied", err)
	}
	// Held by the cache now, and nothing changed: the answer costs the guard's round trip
	// (and a rollback), no read.
	if err, sent := post("m3"); !chat.IsCode(err, chat.CodePermissionDenied) || len(sent) != 2 || !strings.Contains(sent[0], "chathooks_batch_guard") ||
		strings.Contains(sent[0], "FROM users") || sent[1] != "ROLLBACK" {
		t.Fatalf("a post by u, still no member: %v in round trips %q; want permission denied after BEGIN, the lock and the guard, then ROLLBACK", err, sent)
	}
	if err := b.Write(ctx, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) }); err != nil {
		t.Fatal(err)
	}
	reruns.Take()
	if err, sent := post("m4"); err != nil || len(sent) < 3 || !strings.Contains(sent[0], "chathooks_batch_guard") || !strings.Contains(sent[2], "room_cache_generation") {
		t.Fatalf("a post by u after node B added them: %v in round trips %q; want it in, written after the guard failed and the batch began again", err, sent)
	}
	if got := reruns.Take(); !slices.Equal(got, []string{sqlstore.RerunNotBegun}) {
		t.Fatalf("node A's batch ran again for %q, want once, not begun", got)
	}
	if _, err := a.GetMessage(ctx, "r", "m4"); err != nil {
		t.Fatalf("message m4: %v", err)
	}
}
