package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// keyedNodes opens two nodes on one new database (node A's round trips recorded, and why
// its batches ran again) with room "r", and posts once by key k0 on node A: its batches are
// sent whole from then on.
func keyedNodes(t *testing.T) (a *sqlstore.Store, rt *roundTrips, b *sqlstore.Store, p threadPosts, reruns *storetest.RerunLog) {
	t.Helper()
	a, rt, b, reruns = twoNodes(t)
	p = threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(a)
	p.post(a, "k0", "m0")
	return a, rt, b, p, reruns
}

// A whole batch takes the thread keys its posts look up that the thread cache lacks to be
// new: a post starting a thread by a new key goes in one round trip, reading nothing, and
// inserts the key with an insert that fails if it exists.
func TestNewThreadKeyInOneRoundTrip(t *testing.T) {
	t.Parallel()
	a, rt, _, p, _ := keyedNodes(t)
	rt.reset()
	if th, _ := p.post(a, "k1", "m1"); th != "m1" {
		t.Fatalf("the first post by k1 is in thread %q, want a new thread m1", th)
	}
	sent := rt.trips()
	if len(sent) != 1 || strings.Contains(sent[0], "FROM thread_keys") || strings.Contains(sent[0], "ON CONFLICT") ||
		!strings.Contains(sent[0], "INSERT INTO thread_keys (room_id, key, thread_id) VALUES") || !strings.HasSuffix(sent[0], "COMMIT") {
		t.Fatalf("the first post by k1: %d round trips %q; want one, reading nothing, the key inserted without ON CONFLICT", len(sent), sent)
	}
}

// A key taken to be new that another node started meanwhile fails its insert: nothing of
// the batch is committed or answered, the batch runs again reading its keys, and the post
// replies in the other node's thread. The next whole batches read their keys.
func TestNewThreadKeyThatExists(t *testing.T) {
	t.Parallel()
	a, rt, b, p, reruns := keyedNodes(t)
	ctx := context.Background()
	p.post(b, "kb", "b1")
	rt.reset()
	if th, root := p.post(a, "kb", "a1"); th != "b1" || root != "root b1" {
		t.Fatalf("a post on node A by node B's key: thread %q %q, want b1 \"root b1\"", th, root)
	}
	sent := rt.trips()
	if len(sent) < 3 || !strings.Contains(sent[0], "INSERT INTO thread_keys (room_id, key, thread_id) VALUES") || strings.Contains(sent[0], "ON CONFLICT") ||
		!strings.Contains(strings.Join(sent[1:], " || "), "FROM thread_keys") {
		t.Fatalf("a post on node A by node B's key: round trips %q; want the whole batch (its key insert failing), then the batch begun, reading the key", sent)
	}
	if m, err := a.GetMessage(ctx, "r", "a1"); err != nil || m.ThreadID != "b1" {
		t.Fatalf("message a1: %+v, %v; want it once, in thread b1", m, err)
	}
	if got := reruns.Take(); !slices.Equal(got, []string{sqlstore.RerunKeyNotNew}) {
		t.Fatalf("node A's batches ran again for %q, want once for a key not new", got)
	}
	// The next batches read their keys, though new.
	p.post(a, "k2", "m2")
	rt.reset()
	if th, _ := p.post(a, "k3", "m3"); th != "m3" {
		t.Fatalf("the first post by k3 is in thread %q, want m3", th)
	}
	if sent := rt.trips(); len(sent) != 2 || !strings.Contains(sent[0], "FROM thread_keys") {
		t.Fatalf("a new key's post right after a key taken to be new existed: round trips %q; want its key read ahead, then the statements", sent)
	}
}

// A request that finds a key taken to be new and does not insert it (a reply that must find
// its thread) has nothing to check its answer: the batch runs again reading the key before
// anything is answered, whether the key exists (here, started by another node) or not.
func TestNewThreadKeyReadWithoutInsert(t *testing.T) {
	t.Parallel()
	a, rt, b, p, reruns := keyedNodes(t)
	ctx := context.Background()
	p.post(b, "kb", "b1")
	replyOrFail := func(key string) (string, error) {
		var th string
		err := a.Write(chat.WithPost(ctx, chat.PostHint{Room: "r", ThreadKey: key}), func(tx chat.Tx) error {
			var err error
			if th, err = tx.ThreadByKey("r", key); err != nil {
				return err
			}
			if th == "" {
				return chat.Errorf(chat.CodeNotFound, "thread not found")
			}
			return tx.InsertMessage(p.msg("r-"+key, th, "reply"))
		})
		return th, err
	}
	rt.reset()
	if th, err := replyOrFail("kb"); err != nil || th != "b1" {
		t.Fatalf("a reply by node B's key on node A: thread %q, %v; want b1", th, err)
	}
	if sent := strings.Join(rt.trips(), " || "); !strings.Contains(sent, "FROM thread_keys") {
		t.Fatalf("a reply by node B's key on node A: round trips %q; want the key read", sent)
	}
	if got := reruns.Take(); !slices.Equal(got, []string{sqlstore.RerunKeyUnchecked}) {
		t.Fatalf("node A's batches ran again for %q, want once for a key not checked", got)
	}
	rt.reset()
	if _, err := replyOrFail("none"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("a reply by a key nobody used: %v, want not found", err)
	}
	if sent := strings.Join(rt.trips(), " || "); !strings.Contains(sent, "FROM thread_keys") {
		t.Fatalf("a reply by a key nobody used: round trips %q; want the key read before the answer", sent)
	}
}

// Posts starting threads by several new keys in one batch insert the keys with one
// statement, which still fails if any exists: a batch with one key another node started
// runs again reading its keys, and each post gets its own answer.
func TestNewThreadKeysMerged(t *testing.T) {
	t.Parallel()
	a, rt, b, p, reruns := keyedNodes(t)
	batch := func(keys ...string) []string {
		t.Helper()
		got := make([]string, len(keys))
		rt.reset()
		behindGate(t, a, len(keys), rt.reset, func(i int) {
			th, _ := p.post(a, keys[i], "m-"+keys[i])
			got[i] = th
		})
		return got
	}
	if got := batch("n1", "n2"); got[0] != "m-n1" || got[1] != "m-n2" {
		t.Fatalf("two posts by new keys: threads %q, want each its own", got)
	}
	if sent := rt.trips(); len(sent) != 2 || strings.Contains(sent[1], "FROM thread_keys") ||
		!strings.Contains(sent[1], "INSERT INTO thread_keys (room_id, key, thread_id) SELECT * FROM unnest") || strings.Contains(sent[1], "ON CONFLICT") {
		t.Fatalf("two posts by new keys: round trips %q; want the gate's, then one with both keys in one insert without ON CONFLICT", sent)
	}
	p.post(b, "kb", "b1")
	if got := batch("n3", "kb"); got[0] != "m-n3" || got[1] != "b1" {
		t.Fatalf("posts by a new key and by node B's key: threads %q, want m-n3 and b1", got)
	}
	if sent := strings.Join(rt.trips(), " || "); !strings.Contains(sent, "FROM thread_keys") {
		t.Fatalf("posts by a new key and by node B's key: round trips %q; want the keys read after the insert failed", sent)
	}
	if got := reruns.Take(); !slices.Equal(got, []string{sqlstore.RerunKeyNotNew}) {
		t.Fatalf("node A's batches ran again for %q, want once for a key not new", got)
	}
}

// An idempotency key is taken to be new too, in a begun batch as in a whole one: a post with
// a new key reads nothing, and records the key with an insert that fails if it exists
// (whole, it goes in one round trip). A retry with the key fails that insert, runs again
// reading the key, and gets the original message; nothing of the failed run stays.
func TestNewIdempotencyKey(t *testing.T) {
	t.Parallel()
	a, rt, _, p, _ := keyedNodes(t)
	ctx := context.Background()
	post := func(key, id string) string {
		t.Helper()
		var got string
		if err := a.Write(chat.WithPost(ctx, chat.PostHint{Room: "r", IdemScope: "s", IdemKey: key}), func(tx chat.Tx) error {
			prev, err := tx.IdempotentMessage("s", key)
			if err != nil {
				return err
			}
			if prev != "" {
				m, err := tx.GetMessage("r", prev)
				got = m.ID
				return err
			}
			if err := tx.InsertMessage(p.msg(id, id, "posted")); err != nil {
				return err
			}
			got = id
			return tx.InsertIdempotency("s", key, id, p.now)
		}); err != nil {
			t.Fatalf("post %s with key %s: %v", id, key, err)
		}
		return got
	}
	// A change of room data: the node's next batch is begun, not whole.
	if err := a.Write(ctx, func(tx chat.Tx) error {
		return tx.UpdateRoom(chat.Room{ID: "r", Name: "renamed", CreatedAt: p.now, UpdatedAt: p.now})
	}); err != nil {
		t.Fatal(err)
	}
	rt.reset()
	post("i0", "n0")
	if sent := strings.Join(rt.trips(), " || "); !strings.HasPrefix(sent, "BEGIN; SELECT pg_advisory_xact_lock") || strings.Contains(sent, "FROM idempotency") ||
		!strings.Contains(sent, "INSERT INTO idempotency (scope, key, message_id, created_at) VALUES") || strings.Contains(sent, "ON CONFLICT") {
		t.Fatalf("a post with a new key in a begun batch: round trips %q; want no read of the key, inserted without ON CONFLICT", sent)
	}
	rt.reset()
	if got := post("i1", "n1"); got != "n1" {
		t.Fatalf("a post with a new key: message %q, want n1", got)
	}
	sent := rt.trips()
	if len(sent) != 1 || strings.Contains(sent[0], "FROM idempotency") ||
		!strings.Contains(sent[0], "INSERT INTO idempotency (scope, key, message_id, created_at) VALUES") || strings.Contains(sent[0], "ON CONFLICT") {
		t.Fatalf("a post with a new key: %d round trips %q; want one, reading nothing, the key inserted without ON CONFLICT", len(sent), sent)
	}
	rt.reset()
	if got := post("i1", "n2"); got != "n1" {
		t.Fatalf("a retry with key i1: message %q, want the original n1", got)
	}
	if sent := strings.Join(rt.trips(), " || "); !strings.Contains(sent, "SELECT i.scope, i.key, i.message_id FROM") {
		t.Fatalf("a retry with key i1: round trips %q; want the key read after its insert failed", sent)
	}
	if _, err := a.GetMessage(ctx, "r", "n2"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("the retry's own message n2: %v, want not found (its run was rolled back)", err)
	}
}

// Two nodes, two writers each, post concurrently by a few shared thread keys and with
// idempotency keys each sent once to each node: batches go whole (keys are taken to be new
// wherever a cache lacks them), and run again begun (the thread caches taken at the version
// read with BEGIN) when the other node's writes left their caches stale or a key taken to
// be new existed. However the batches interleave: each key starts one thread and every
// post by it lands there, and each idempotency key makes one message, which both of its
// posts answer with. The thread keys are posted by again, new ones and the first run's,
// with every batch begun first.
func TestNewKeysTwoNodesConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	nodes := []*sqlstore.Store{openNode(t, url, "node-a", 2), openNode(t, url, "node-b", 2)}
	ctx := context.Background()
	p := threadPosts{t, time.Now().UTC().Truncate(time.Microsecond)}
	p.room(nodes[0])
	postByKeys(t, nodes, p, "whole", false)
	postByKeys(t, nodes, p, "begun", true)
	postByKeys(t, nodes, p, "whole", true)

	// Each idempotency key posted once to each node, at the same time.
	var wg sync.WaitGroup
	const idems = 40
	answers := make([][2]string, idems)
	for i := range idems {
		for n := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key, id := fmt.Sprintf("i%d", i), fmt.Sprintf("p%d-%d", i, n)
				err := nodes[n].Write(chat.WithPost(ctx, chat.PostHint{Room: "r", IdemScope: "s", IdemKey: key}), func(tx chat.Tx) error {
					prev, err := tx.IdempotentMessage("s", key)
					if err != nil {
						return err
					}
					if prev != "" {
						answers[i][n] = prev
						return nil
					}
					if err := tx.InsertMessage(p.msg(id, id, "posted")); err != nil {
						return err
					}
					answers[i][n] = id
					return tx.InsertIdempotency("s", key, id, p.now)
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for i, a := range answers {
		if a[0] == "" || a[0] != a[1] {
			t.Fatalf("idempotency key i%d: the nodes answered %q and %q, want one message", i, a[0], a[1])
		}
		other := fmt.Sprintf("p%d-0", i)
		if a[0] == other {
			other = fmt.Sprintf("p%d-1", i)
		}
		if _, err := nodes[0].GetMessage(ctx, "r", other); !chat.IsCode(err, chat.CodeNotFound) {
			t.Fatalf("idempotency key i%d answered %s, but %s exists too (%v)", i, a[0], other, err)
		}
	}
}

// postByKeys has eight workers post by six shared thread keys (named from run) through
// the two nodes in turn, each batch begun first if begun, and checks that each key names
// one thread, whose first message starts it, and that every post by the key landed there.
func postByKeys(t *testing.T, nodes []*sqlstore.Store, p threadPosts, run string, begun bool) {
	t.Helper()
	ctx := context.Background()
	type keyed struct{ key, thread string }
	const workers, each, keys = 8, 30, 6
	got := make([][]keyed, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("%s%d", run, (w*7+i*5)%keys)
				n := nodes[(w+i)%2]
				if begun {
					n.OtherNodeWrote()
				}
				th, _ := p.post(n, key, fmt.Sprintf("%s-%v-t%d-%d", run, begun, w, i))
				got[w] = append(got[w], keyed{key, th})
			}
		}()
	}
	wg.Wait()
	threads := map[string]string{}
	for _, ps := range got {
		for _, k := range ps {
			if th, ok := threads[k.key]; ok && th != k.thread {
				t.Fatalf("%s (begun %v): posts by key %s landed in threads %s and %s", run, begun, k.key, th, k.thread)
			}
			threads[k.key] = k.thread
		}
	}
	for key, th := range threads {
		var named string
		if err := nodes[1].Write(ctx, func(tx chat.Tx) error {
			var err error
			named, err = tx.ThreadByKey("r", key)
			return err
		}); err != nil || named != th {
			t.Fatalf("key %s names thread %q (%v), its posts are in %s", key, named, err, th)
		}
		if m, err := nodes[0].GetMessage(ctx, "r", th); err != nil || m.ThreadID != m.ID {
			t.Fatalf("thread %s of key %s: its first message %+v, %v", th, key, m, err)
		}
	}
}
