package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// threadPosts writes like Google Chat posts by thread key into room "r": post(key, id)
// starts the key's thread with message id if the key names none, else replies in it, and
// returns the thread and its first message's text.
type threadPosts struct {
	t   *testing.T
	now time.Time
}

func (p threadPosts) room(s *sqlstore.Store) {
	p.t.Helper()
	if err := s.Write(context.Background(), func(tx chat.Tx) error {
		return tx.InsertRoom(chat.Room{ID: "r", Name: "r", CreatedAt: p.now, UpdatedAt: p.now})
	}); err != nil {
		p.t.Fatal(err)
	}
}

func (p threadPosts) msg(id, thread, text string) chat.Message {
	return chat.Message{ID: id, RoomID: "r", ThreadID: thread, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh", Name: "W"}, Text: text,
		Format: "markdown", HTML: "<p>" + text + "</p>", Mentions: []chat.Mention{}, CreatedAt: p.now}
}

func (p threadPosts) post(s *sqlstore.Store, key, id string) (thread, rootText string) {
	p.t.Helper()
	err := s.Write(chat.WithPost(context.Background(), chat.PostHint{Room: "r", ThreadKey: key}), func(tx chat.Tx) error {
		th, err := tx.ThreadByKey("r", key)
		if err != nil {
			return err
		}
		if th == "" {
			thread, rootText = id, "root "+id
			if err := tx.InsertThreadKey("r", key, id); err != nil {
				return err
			}
			return tx.InsertMessage(p.msg(id, id, rootText))
		}
		root, err := tx.GetMessage("r", th)
		if err != nil {
			return err
		}
		thread, rootText = th, root.Text
		return tx.InsertMessage(p.msg(id, th, "reply"))
	})
	if err != nil {
		p.t.Fatalf("post %s with key %s: %v", id, key, err)
	}
	return thread, rootText
}

// sqlSession connects to the database at url as another program would, closed when the
// test ends.
func sqlSession(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// A reply by a thread key this node has seen goes whole, in one round trip, with no read:
// the key and the thread's first message come from the thread cache, whose version the
// batch guard checks.
func TestThreadCacheRepliesInOneRoundTrip(t *testing.T) {
	t.Parallel()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(s)
	if th, root := p.post(s, "k", "m1"); th != "m1" || root != "root m1" {
		t.Fatalf("the key's first post: thread %q %q, want a new thread m1", th, root)
	}
	for i := range 3 {
		rt.reset()
		id := fmt.Sprintf("m%d", i+2)
		if th, root := p.post(s, "k", id); th != "m1" || root != "root m1" {
			t.Fatalf("reply %s: thread %q %q, want m1 \"root m1\"", id, th, root)
		}
		sent := rt.trips()
		if len(sent) != 1 || !strings.HasPrefix(sent[0], "BEGIN") || !strings.HasSuffix(sent[0], "COMMIT") ||
			strings.Contains(sent[0], "FROM thread_keys") || strings.Contains(sent[0], "FROM messages") {
			t.Fatalf("reply %s: %d round trips %q; want one, BEGIN to COMMIT, reading nothing", id, len(sent), sent)
		}
	}
	// A second key, started and replied to in one batch: the key, new to the cache, is taken
	// to be new (its insert checks that), and the reply reads the first message the batch
	// itself inserted without a round trip for it.
	rt.reset()
	got := make([]string, 2)
	behindGate(t, s, 2, rt.reset, func(i int) {
		th, root := p.post(s, "k2", fmt.Sprintf("n%d", i))
		got[i] = th + " " + root
	})
	if got[0] != "n0 root n0" || got[1] != "n0 root n0" {
		t.Fatalf("a key started and replied to in one batch: %q; want both in n0", got)
	}
	if sent := rt.trips(); len(sent) != 2 || strings.Contains(sent[1], "FROM thread_keys") || strings.Contains(sent[1], "FROM messages WHERE") ||
		!strings.Contains(sent[1], "INSERT INTO thread_keys (room_id, key, thread_id) VALUES") || strings.Contains(sent[1], "ON CONFLICT") ||
		!strings.HasSuffix(sent[1], "COMMIT") {
		t.Fatalf("a key started and replied to in one batch: %d round trips %q; want the gate's, then the statements (the key's insert without ON CONFLICT) and COMMIT", len(sent), sent)
	}
}

// The thread cache follows every other writer: another node re-pointing a key, another
// program editing a thread's first message or re-pointing a key in SQL, without the batch
// lock or any notification. Each change is seen by the next reply.
func TestThreadCacheFollowsOtherWriters(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, rt := openWrappedAt(t, url, postgres.Options{Options: sqlstore.Options{NodeID: "node-a"}, Writers: 1, ReadConns: 1}, newRoundTrips)
	b := openNode(t, url, "node-b", 1)
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(a)
	ctx := context.Background()
	sql := sqlSession(t, url)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := sql.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	reply := func(id, wantThread, wantRoot string) {
		t.Helper()
		if th, root := p.post(a, "k", id); th != wantThread || root != wantRoot {
			t.Fatalf("reply %s on node A: thread %q %q, want %q %q", id, th, root, wantThread, wantRoot)
		}
	}
	cached := func(id, wantThread, wantRoot string) {
		t.Helper()
		rt.reset()
		reply(id, wantThread, wantRoot)
		if sent := rt.trips(); len(sent) != 1 || strings.Contains(sent[0], "FROM thread_keys") {
			t.Fatalf("reply %s on node A: %d round trips %q; want one, from the cache", id, len(sent), sent)
		}
	}
	p.post(a, "k", "m1")
	cached("a1", "m1", "root m1")

	// Another program edits the thread's first message.
	exec(`UPDATE messages SET text = 'edited in SQL' WHERE id = 'm1'`)
	reply("a2", "m1", "edited in SQL")
	cached("a3", "m1", "edited in SQL")

	// Another node starts a new thread under the same key (a post without a reply option).
	if err := b.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertThreadKey("r", "k", "b1"); err != nil {
			return err
		}
		return tx.InsertMessage(p.msg("b1", "b1", "root b1"))
	}); err != nil {
		t.Fatal(err)
	}
	reply("a4", "b1", "root b1")
	cached("a5", "b1", "root b1")

	// Another program points the key elsewhere in SQL.
	exec(`UPDATE thread_keys SET thread_id = 'm1' WHERE room_id = 'r' AND key = 'k'`)
	reply("a6", "m1", "edited in SQL")

	// Another node deletes the thread's first message: a request that only reads (it
	// writes nothing, so its batch has nothing to commit) still finds the first message
	// gone, as the key's thread.
	if err := b.Write(ctx, func(tx chat.Tx) error { return tx.DeleteMessage("r", "m1") }); err != nil {
		t.Fatal(err)
	}
	err := a.Write(chat.WithPost(ctx, chat.PostHint{Room: "r", ThreadKey: "k"}), func(tx chat.Tx) error {
		th, err := tx.ThreadByKey("r", "k")
		if err != nil || th != "m1" {
			return fmt.Errorf("the key names %q (%v), want m1", th, err)
		}
		if _, err := tx.GetMessage("r", "m1"); !chat.IsCode(err, chat.CodeNotFound) {
			return fmt.Errorf("the deleted first message reads %v, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A batch begun before it is gathered (another node is writing) reads the thread cache's
// version with BEGIN and the lock, and takes the cache's entries when it holds that version:
// a reply by a known key reads nothing. After another node re-points the key, the version
// read with BEGIN is newer than the cache's, so the reply reads the key and lands in the
// other node's thread; the cache then holds the new version again.
func TestThreadCacheInBegunBatches(t *testing.T) {
	t.Parallel()
	a, rt, b, _ := twoNodes(t)
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(a)
	p.post(a, "k", "m1")
	reply := func(id, wantThread, wantRoot string) []string {
		t.Helper()
		a.OtherNodeWrote()
		rt.reset()
		if th, root := p.post(a, "k", id); th != wantThread || root != wantRoot {
			t.Fatalf("reply %s on node A: thread %q %q, want %q %q", id, th, root, wantThread, wantRoot)
		}
		return rt.trips()
	}
	begunWithVersion := func(sent []string) bool {
		return len(sent) > 0 && strings.HasPrefix(sent[0], "BEGIN; SELECT pg_advisory_xact_lock") && strings.Contains(sent[0], "thread_cache_version") &&
			!strings.Contains(sent[0], "chathooks_batch_guard")
	}
	for _, id := range []string{"a1", "a2"} {
		if sent := reply(id, "m1", "root m1"); len(sent) != 2 || !begunWithVersion(sent) ||
			strings.Contains(sent[1], "FROM thread_keys") || strings.Contains(sent[1], "FROM messages") || !strings.HasSuffix(sent[1], "COMMIT") {
			t.Fatalf("reply %s in a begun batch: %d round trips %q; want BEGIN with the lock and the versions, then the statements with COMMIT, reading nothing", id, len(sent), sent)
		}
	}
	if err := b.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertThreadKey("r", "k", "b1"); err != nil {
			return err
		}
		return tx.InsertMessage(p.msg("b1", "b1", "root b1"))
	}); err != nil {
		t.Fatal(err)
	}
	if sent := reply("a3", "b1", "root b1"); len(sent) != 3 || !begunWithVersion(sent) || !strings.Contains(sent[1], "FROM thread_keys") {
		t.Fatalf("reply a3 after node B re-pointed the key: %d round trips %q; want BEGIN with the versions, the key read, then the statements", len(sent), sent)
	}
	if sent := reply("a4", "b1", "root b1"); len(sent) != 2 || !begunWithVersion(sent) || strings.Contains(sent[1], "FROM thread_keys") {
		t.Fatalf("reply a4: %d round trips %q; want two, the key from the cache again", len(sent), sent)
	}
}

// A batch adds what it wrote to the thread cache only if nobody else changed thread data
// while it ran: another program re-pointing a key between two of the batch's round trips
// (it takes no batch lock) leaves the version one further than the batch's own change, and
// the cache starts again from the batch's own changes instead of keeping the key's old
// thread under the new version.
func TestThreadCacheSeesAWriterBetweenTrips(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, rt := openWrappedAt(t, url, postgres.Options{Options: sqlstore.Options{NodeID: "node-a"}, Writers: 1, ReadConns: 1}, newRoundTrips)
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(a)
	ctx := context.Background()
	sql := sqlSession(t, url)
	p.post(a, "k", "m1")
	p.post(a, "k2", "x1")
	if th, _ := p.post(a, "k", "a1"); th != "m1" {
		t.Fatalf("reply a1 in thread %q, want m1", th)
	}
	// A batch that reads a message in one round trip and sets key k3 in the next; between
	// them, another program points k at x1's thread.
	rt.reset()
	rt.afterNextTrip(func() {
		if _, err := sql.Exec(ctx, `UPDATE thread_keys SET thread_id = 'x1' WHERE room_id = 'r' AND key = 'k'`); err != nil {
			t.Error(err)
		}
	})
	if err := a.Write(ctx, func(tx chat.Tx) error {
		if _, err := tx.GetMessage("r", "m1"); err != nil {
			return err
		}
		if err := tx.InsertThreadKey("r", "k3", "n1"); err != nil {
			return err
		}
		return tx.InsertMessage(p.msg("n1", "n1", "root n1"))
	}); err != nil {
		t.Fatal(err)
	}
	if sent := rt.trips(); len(sent) != 2 || !strings.Contains(sent[0], "FROM messages") || !strings.HasSuffix(sent[1], "COMMIT") {
		t.Fatalf("the batch setting k3: %d round trips %q; want the read, then the statements and COMMIT", len(sent), sent)
	}
	if th, root := p.post(a, "k", "a2"); th != "x1" || root != "root x1" {
		t.Fatalf("reply a2 by key k: thread %q %q, want x1 \"root x1\" (where the other program pointed k)", th, root)
	}
	// What the batch itself wrote stayed: a reply by k3 reads nothing.
	rt.reset()
	if th, root := p.post(a, "k3", "a3"); th != "n1" || root != "root n1" {
		t.Fatalf("reply a3 by key k3: thread %q %q, want n1 \"root n1\"", th, root)
	}
	if sent := rt.trips(); len(sent) != 1 || strings.Contains(sent[0], "FROM thread_keys") || strings.Contains(sent[0], "FROM messages") {
		t.Fatalf("reply a3 by key k3: %d round trips %q; want one, reading nothing", len(sent), sent)
	}
}

// A room deleted through the node empties its thread cache: after the room is made again
// under the same id, a post by an old key starts a new thread instead of replying in the
// deleted one.
func TestThreadCacheForgetsADeletedRoom(t *testing.T) {
	t.Parallel()
	s, _ := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(s)
	p.post(s, "k", "m1")
	if th, _ := p.post(s, "k", "m2"); th != "m1" {
		t.Fatalf("reply m2 in thread %q, want m1", th)
	}
	if err := s.Write(context.Background(), func(tx chat.Tx) error { return tx.DeleteRoom("r") }); err != nil {
		t.Fatal(err)
	}
	p.room(s)
	if th, root := p.post(s, "k", "m3"); th != "m3" || root != "root m3" {
		t.Fatalf("the first post by k in the room made again: thread %q %q, want a new thread m3", th, root)
	}
}
