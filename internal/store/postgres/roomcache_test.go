package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// twoWriterNodes opens two nodes on one fresh database, two writers each, and a write that fails
// the test if it fails.
func twoWriterNodes(t *testing.T) (a, b *sqlstore.Store, write func(*sqlstore.Store, func(chat.Tx) error)) {
	t.Helper()
	url := pgtest.URL(t)
	a, b = openNode(t, url, "node-a", 2), openNode(t, url, "node-b", 2)
	return a, b, func(s *sqlstore.Store, fn func(chat.Tx) error) {
		t.Helper()
		if err := s.Write(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}
}

// cacheReads returns, for each check of a cache after a change, the contexts of the
// check's three reads: the first fills the cache and the others use it. Every other
// check's first read is a post's (hint h), read ahead with its batch's other reads.
func cacheReads(h chat.PostHint) func() [3]context.Context {
	checks := 0
	return func() [3]context.Context {
		checks++
		bg := context.Background()
		ctxs := [3]context.Context{bg, bg, bg}
		if checks%2 == 0 {
			ctxs[0] = chat.WithPost(bg, h)
		}
		return ctxs
	}
}

// Two nodes on one database, two writers each: what a post on node A reads of its room
// follows every change node B makes, at once (the room cache generation), with no
// notification involved.
func TestRoomForPostAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, write := twoWriterNodes(t)
	now := time.Now()
	reads := cacheReads(chat.PostHint{Room: "r"})
	want := func(name string, agents string) {
		t.Helper()
		for _, ctx := range reads() {
			var room chat.Room
			var got []string
			if err := a.Write(ctx, func(tx chat.Tx) error {
				var err error
				room, got, err = tx.RoomForPost("r")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if room.Name != name || fmt.Sprint(got) != agents {
				t.Fatalf("node A reads %q %v, want %q %s", room.Name, got, name, agents)
			}
		}
	}
	write(b, func(tx chat.Tx) error {
		for _, id := range []string{"x1", "x2"} {
			if err := tx.InsertUser(chat.User{ID: id, Name: id, Kind: chat.KindAgent, CreatedAt: now}); err != nil {
				return err
			}
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "one", CreatedAt: now, UpdatedAt: now})
	})
	want("one", "[]")
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "x1", now) })
	want("one", "[x1]")
	write(b, func(tx chat.Tx) error { return tx.UpdateRoom(chat.Room{ID: "r", Name: "two", UpdatedAt: now}) })
	want("two", "[x1]")
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "x2", now) })
	write(a, func(tx chat.Tx) error { return tx.DeleteMember("r", "x1") }) // A's own change
	want("two", "[x2]")
}

// A batch of delivery outcomes, prepared with the caches as the last batch left them, costs
// one round trip: BEGIN, the batch lock, the guard, its statements and the COMMIT (see
// TestWholeBatchGuardSeesOtherNodes for posts).
func TestBatchRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{}, newRoundTrips)
	now := time.Now()
	rs := leasedDeliveries(t, s, now)
	if err := s.Write(ctx, func(tx chat.Tx) error { // begun the usual way: reads the generation and the version
		_, err := tx.EndpointRoutes()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rt.reset()
	if err := s.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	if sent := rt.trips(); len(sent) != 1 || !strings.HasPrefix(sent[0], "BEGIN | SELECT pg_advisory_xact_lock") || !strings.Contains(sent[0], "chathooks_batch_guard") ||
		!strings.Contains(sent[0], "delivery_attempts") || !strings.Contains(sent[0], "UPDATE deliveries") || !strings.HasSuffix(sent[0], "COMMIT") {
		t.Fatalf("delivery outcomes: %d round trips %q; want one: BEGIN, the lock, the guard, the statements, COMMIT", len(sent), sent)
	}
	d, err := s.GetDelivery(ctx, "d1")
	if err != nil || d.Status != chat.DeliverySucceeded {
		t.Fatalf("d1: %+v %v", d, err)
	}
}

// roomsWithMember writes user u and the rooms, and makes u a member of those in members: a
// change of room data, so the room cache starts empty.
func roomsWithMember(t *testing.T, s *sqlstore.Store, u chat.User, rooms []string, members ...string) {
	t.Helper()
	if err := s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		for _, id := range rooms {
			if err := tx.InsertRoom(chat.Room{ID: id, Name: "name " + id, CreatedAt: u.CreatedAt, UpdatedAt: u.CreatedAt}); err != nil {
				return err
			}
		}
		for _, id := range members {
			if err := tx.InsertMember(id, u.ID, u.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The rooms a batch's posts name are read in one statement at the start of the batch:
// five posts to five rooms not yet cached cost one round trip for all their rooms, and
// each reads its own room and agents.
func TestBatchReadsItsRoomsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now()
	rooms := []string{"r0", "r1", "r2", "r3", "r4"}
	roomsWithMember(t, s, chat.User{ID: "bot", Name: "bot", Kind: chat.KindAgent, CreatedAt: now}, rooms, "r3")
	type read struct {
		name   string
		agents string
		err    error
	}
	got := make([]read, len(rooms))
	behindGate(t, s, len(rooms), rt.reset, func(i int) {
		id := rooms[i]
		err := s.Write(chat.WithPost(ctx, chat.PostHint{Room: id}), func(tx chat.Tx) error {
			room, agents, err := tx.RoomForPost(id)
			got[i] = read{room.Name, fmt.Sprint(agents), err}
			return err
		})
		if err != nil {
			got[i].err = err
		}
	})
	for i, id := range rooms {
		want := read{name: "name " + id, agents: "[]"}
		if id == "r3" {
			want.agents = "[bot]"
		}
		if got[i] != want {
			t.Errorf("%s: read %+v, want %+v", id, got[i], want)
		}
	}
	// The gate's batch commits (1), then the posts' batch in two: BEGIN, the lock, the
	// guard and one read of all their rooms; then COMMIT.
	if sent := rt.trips(); len(sent) != 3 || !strings.HasPrefix(sent[1], "BEGIN") || !strings.Contains(sent[1], "chathooks_batch_guard") ||
		strings.Count(sent[1], "unnest(") != 1 || sent[2] != "COMMIT" {
		t.Fatalf("%d round trips %q; want the gate's COMMIT, then BEGIN, the lock, the guard and one read of the rooms, then COMMIT", len(sent), sent)
	}
}

// Two nodes on one database: what a user's post on node A reads of its sender follows every
// change node B makes, at once (the room cache generation).
func TestUserInRoomAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, write := twoWriterNodes(t)
	now := time.Now()
	reads := cacheReads(chat.PostHint{Room: "r", User: "u"})
	want := func(member bool, missing bool) {
		t.Helper()
		for _, ctx := range reads() {
			var u chat.User
			var got bool
			err := a.Write(ctx, func(tx chat.Tx) error {
				var err error
				u, got, err = tx.UserInRoom("r", "u")
				return err
			})
			if missing {
				if !chat.IsCode(err, chat.CodeNotFound) {
					t.Fatalf("node A reads a deleted user: %v", err)
				}
				continue
			}
			if err != nil || u.Name != "Una" || got != member {
				t.Fatalf("node A reads %v %+v member %v, want member %v", err, u, got, member)
			}
		}
	}
	write(b, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "u", Name: "Una", Kind: chat.KindHuman, CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "one", CreatedAt: now, UpdatedAt: now})
	})
	want(false, false)
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) })
	want(true, false)
	write(b, func(tx chat.Tx) error { return tx.DeleteMember("r", "u") })
	want(false, false)
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) })
	want(true, false)
	write(b, func(tx chat.Tx) error { return tx.DeleteUser("u") })
	want(false, true)
}

// The senders of a batch's user posts are read in one statement at the start of the batch,
// as their rooms are; once cached, a user's post is sent whole, in one round trip.
func TestBatchReadsItsSendersAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now()
	rooms := []string{"r0", "r1", "r2", "r3", "r4"}
	roomsWithMember(t, s, chat.User{ID: "u", Name: "Una", Kind: chat.KindHuman, CreatedAt: now}, rooms, "r1", "r3")
	var n atomic.Int64
	post := func(id string) (string, error) {
		var got string
		err := s.Write(chat.WithPost(ctx, chat.PostHint{Room: id, User: "u"}), func(tx chat.Tx) error {
			room, _, err := tx.RoomForPost(id)
			if err != nil {
				return err
			}
			u, member, err := tx.UserInRoom(id, "u")
			if err != nil {
				return err
			}
			got = fmt.Sprintf("%s %s %v", room.Name, u.Name, member)
			return tx.AppendEvent(&chat.Event{ID: fmt.Sprintf("evt_%s_%d", id, n.Add(1)), Type: chat.EventMessageSend, RoomID: id, CreatedAt: now, Payload: []byte(`{}`)})
		})
		return got, err
	}
	got, errs := make([]string, len(rooms)), make([]error, len(rooms))
	behindGate(t, s, len(rooms), rt.reset, func(i int) { got[i], errs[i] = post(rooms[i]) })
	want := func(id string) string {
		return fmt.Sprintf("name %s Una %v", id, id == "r1" || id == "r3")
	}
	for i, id := range rooms {
		if errs[i] != nil || got[i] != want(id) {
			t.Errorf("%s: read %q %v, want %q", id, got[i], errs[i], want(id))
		}
	}
	// The gate's batch commits (1), then the posts' batch in two: BEGIN, the lock, the
	// guard, one read of all their rooms and one of all their senders; then the statements
	// and COMMIT.
	if sent := rt.trips(); len(sent) != 3 || !strings.HasPrefix(sent[1], "BEGIN") || !strings.Contains(sent[1], "chathooks_batch_guard") ||
		strings.Count(sent[1], "unnest(") != 2 || !strings.Contains(sent[1], "FROM users u") || !strings.HasSuffix(sent[2], "COMMIT") {
		t.Fatalf("%d round trips %q; want the gate's COMMIT, then BEGIN, the lock, the guard, one read of the rooms and one of the senders, then the statements and COMMIT", len(sent), sent)
	}
	// Now cached: each post is one round trip, with no read in it.
	for _, id := range rooms {
		rt.reset()
		if got, err := post(id); err != nil || got != want(id) {
			t.Fatalf("%s again: read %q %v, want %q", id, got, err, want(id))
		}
		if sent := rt.trips(); len(sent) != 1 || strings.Contains(sent[0], "FROM users") || !strings.HasPrefix(sent[0], "BEGIN") || !strings.HasSuffix(sent[0], "COMMIT") {
			t.Fatalf("%s again: %d round trips %q; want one: BEGIN, the lock, the guard, the statement, COMMIT", id, len(sent), sent)
		}
	}
}

// What a batch's posts read besides their rooms and senders (thread keys, idempotency keys,
// the messages they reply to) is read for the whole batch in the round trip that begins it,
// and stays exact as the batch's own requests change it: a key set by an earlier post, a
// message edited by one.
func TestBatchReadsAheadWhatPostsRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now().UTC().Truncate(time.Microsecond)
	msg := func(id, thread, text string) chat.Message {
		return chat.Message{ID: id, RoomID: "r", ThreadID: thread, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh"}, Text: text,
			Format: "markdown", HTML: "<p>" + text + "</p>", Mentions: []chat.Mention{}, CreatedAt: now}
	}
	if err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertRoom(chat.Room{ID: "r", Name: "r", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertMessage(msg("m1", "m1", "root")); err != nil {
			return err
		}
		if err := tx.InsertThreadKey("r", "k1", "m1"); err != nil {
			return err
		}
		return tx.InsertIdempotency("s", "i1", "m1", now)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx chat.Tx) error { _, _, err := tx.RoomForPost("r"); return err }); err != nil {
		t.Fatal(err) // the room cached, so that the batch below reads only what is ahead
	}
	// Each post reads (and writes) as a post does; got records what it read.
	type post struct {
		hint chat.PostHint
		fn   func(tx chat.Tx) (string, error)
	}
	text := func(tx chat.Tx, id string) (string, error) {
		m, err := tx.GetMessage("r", id)
		return m.Text, err
	}
	posts := []post{
		{chat.PostHint{Room: "r", ThreadKey: "k1"}, func(tx chat.Tx) (string, error) { // an existing key and its root
			th, err := tx.ThreadByKey("r", "k1")
			if err != nil {
				return "", err
			}
			root, err := text(tx, th)
			return th + " " + root, err
		}},
		{chat.PostHint{Room: "r", ThreadKey: "k2"}, func(tx chat.Tx) (string, error) { // a new key: a new thread
			th, err := tx.ThreadByKey("r", "k2")
			if err != nil || th != "" {
				return "found " + th, err
			}
			if err := tx.InsertMessage(msg("m2", "m2", "second root")); err != nil {
				return "", err
			}
			return "new", tx.InsertThreadKey("r", "k2", "m2")
		}},
		{chat.PostHint{Room: "r", ThreadKey: "k2"}, func(tx chat.Tx) (string, error) { // the key the post before set
			th, err := tx.ThreadByKey("r", "k2")
			if err != nil {
				return "", err
			}
			root, err := text(tx, th)
			return th + " " + root, err
		}},
		{chat.PostHint{Room: "r", IdemScope: "s", IdemKey: "i1"}, func(tx chat.Tx) (string, error) { // a repeat
			id, err := tx.IdempotentMessage("s", "i1")
			if err != nil {
				return "", err
			}
			orig, err := text(tx, id)
			return id + " " + orig, err
		}},
		{chat.PostHint{Room: "r", IdemScope: "s", IdemKey: "i2"}, func(tx chat.Tx) (string, error) { // a new key
			id, err := tx.IdempotentMessage("s", "i2")
			if err != nil || id != "" {
				return "found " + id, err
			}
			return "new", tx.InsertIdempotency("s", "i2", "m2", now)
		}},
		{chat.PostHint{Room: "r", IdemScope: "s", IdemKey: "i2"}, func(tx chat.Tx) (string, error) { // the key the post before set
			return tx.IdempotentMessage("s", "i2")
		}},
		{chat.PostHint{Room: "r", Message: "m1"}, func(tx chat.Tx) (string, error) { // an edit of the root
			m, err := tx.GetMessage("r", "m1")
			if err != nil {
				return "", err
			}
			m.Text = "edited"
			return "edited", tx.UpdateMessage(m)
		}},
		{chat.PostHint{Room: "r", Message: "m1"}, func(tx chat.Tx) (string, error) { return text(tx, "m1") }}, // sees the edit
	}
	want := []string{"m1 root", "new", "m2 second root", "m1 root", "new", "m2", "edited", "edited"}
	got, errs := make([]string, len(posts)), make([]error, len(posts))
	behindGate(t, s, len(posts), rt.reset, func(i int) {
		errs[i] = s.Write(chat.WithPost(ctx, posts[i].hint), func(tx chat.Tx) error {
			var err error
			got[i], err = posts[i].fn(tx)
			return err
		})
	})
	for i := range posts {
		if errs[i] != nil || got[i] != want[i] {
			t.Errorf("post %d (%+v): read %q %v, want %q", i, posts[i].hint, got[i], errs[i], want[i])
		}
	}
	// The batch first ran whole, taking the keys the thread cache lacks to be new without
	// reading them; the repeat (post 4) found its key new and did not insert it, so that run
	// was rolled back as soon as it returned. The batch then ran begun: BEGIN with the lock,
	// then in one round trip the thread cache's version and the reads ahead; then the reads
	// the batch's own writes leave to the database, each with the statements before it: the
	// edit, whose rows are counted (post 7), and the edited root (post 8); then the thread
	// cache's version again, as the batch leaves it, and COMMIT. The thread root the batch
	// inserted (post 3) is not read back, and no key is looked up in the database after the
	// reads ahead.
	sent := rt.trips()
	const keysAhead, idemsAhead = "SELECT k.room_id, k.key, k.thread_id FROM", "SELECT i.scope, i.key, i.message_id FROM"
	ahead := slices.IndexFunc(sent, func(q string) bool { return strings.Contains(q, idemsAhead) })
	ok := ahead > 0 && len(sent) == ahead+4 && strings.Contains(sent[ahead], keysAhead) &&
		slices.Contains(sent[:ahead], "ROLLBACK") && strings.HasPrefix(sent[ahead-1], "BEGIN") &&
		strings.HasSuffix(sent[ahead+1], "WHERE room_id = $5 AND id = $6") &&
		strings.HasPrefix(sent[ahead+2], "SELECT id, room_id") && strings.HasSuffix(sent[ahead+3], "FROM thread_cache_version WHERE id = 1 | COMMIT")
	for _, q := range sent[max(ahead+1, 0):] {
		ok = ok && !strings.Contains(q, "FROM thread_keys") && !strings.Contains(q, "FROM idempotency")
	}
	for _, q := range sent[:max(ahead, 0)] {
		ok = ok && !strings.Contains(q, keysAhead) && !strings.Contains(q, idemsAhead)
	}
	if !ok {
		for i, q := range sent {
			t.Logf("round trip %d: %s", i, q)
		}
		t.Fatalf("%d round trips; want the whole run rolled back, then BEGIN, the reads ahead, two for the batch's own changes, COMMIT", len(sent))
	}
	// What the batch wrote is what a read finds now.
	var after string
	if err := s.Write(ctx, func(tx chat.Tx) error {
		k2, err := tx.ThreadByKey("r", "k2")
		if err != nil {
			return err
		}
		i2, err := tx.IdempotentMessage("s", "i2")
		if err != nil {
			return err
		}
		m1, err := tx.GetMessage("r", "m1")
		after = k2 + " " + i2 + " " + m1.Text
		return err
	}); err != nil || after != "m2 m2 edited" {
		t.Fatalf("after the batch: %q %v", after, err)
	}
}

// A batch of read markers, each naming a message, reads nothing a marker at a time: their
// rooms and members come from the cache and their messages are read ahead, in the round
// trip that begins the batch; their updates and events go with the COMMIT.
func TestBatchOfReadMarkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	svc := chat.NewService(chat.Config{Store: s, Clock: clock.Real{}})
	now := time.Now().UTC()
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	if err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertRoom(chat.Room{ID: "r", Name: "r", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for _, u := range users {
			if err := tx.InsertUser(chat.User{ID: u, Name: "N " + u, Kind: chat.KindHuman, CreatedAt: now}); err != nil {
				return err
			}
			if err := tx.InsertMember("r", u, now); err != nil {
				return err
			}
		}
		for _, id := range []string{"m1", "m2"} {
			if err := tx.InsertMessage(chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh"},
				Text: "t", Format: "markdown", HTML: "<p>t</p>", Mentions: []chat.Mention{}, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, u := range users { // the room and each member cached, as by earlier markers
		if _, err := svc.MarkRead(ctx, "r", u, "m1"); err != nil {
			t.Fatal(err)
		}
	}
	got, errs := make([]chat.ReadPayload, len(users)), make([]error, len(users))
	behindGate(t, s, len(users), rt.reset, func(i int) { got[i], errs[i] = svc.MarkRead(ctx, "r", users[i], "m2") })
	for i, u := range users {
		if errs[i] != nil || got[i].MessageID != "m2" || got[i].User.ID != u || got[i].Room.MemberCount != len(users) {
			t.Fatalf("marker %s: %+v %v", u, got[i], errs[i])
		}
	}
	// Every member's marker moved to m2: the updates sent with the COMMIT ran.
	members, err := s.ListMembers(ctx, "r", "", 10, time.Now())
	if err != nil || len(members) != len(users) {
		t.Fatalf("members: %v %+v", err, members)
	}
	for _, m := range members {
		if m.LastReadMessageID != "m2" {
			t.Fatalf("member %s read up to %q, want m2", m.User.ID, m.LastReadMessageID)
		}
	}
	// The gate's batch; BEGIN, the lock, the guard and one read of the message; the
	// markers' updates and events with COMMIT.
	sent := rt.trips()
	ok := len(sent) == 3 && strings.HasPrefix(sent[1], "BEGIN") && strings.Count(sent[1], "FROM messages") == 1 &&
		strings.Count(sent[2], "UPDATE members") == len(users) && strings.HasSuffix(sent[2], "COMMIT")
	for _, q := range sent[min(2, len(sent)):] {
		ok = ok && !strings.Contains(q, "FROM messages") && !strings.Contains(q, "FROM rooms") && !strings.Contains(q, "FROM users")
	}
	if !ok {
		for i, q := range sent {
			t.Logf("round trip %d: %s", i, q)
		}
		t.Fatalf("%d round trips; want the gate's, BEGIN with one read of the message, the updates and events with COMMIT", len(sent))
	}
}
