package sqlstore

import (
	"sync"
	"time"
)

// Whole batches (PostgreSQL). A batch that begins with BEGIN and the batch lock in a
// round trip of its own holds the lock while its writer runs the requests and sends their
// statements: two round trips and all the Go work of the batch under the lock, every
// batch. A batch can instead be prepared without beginning: its requests run against the
// caches as this node's last committed batch left them (the room cache generation and the
// endpoint version it ran with, kept in Store.expect), their statements wait, and BEGIN,
// the batch lock, a guard and COMMIT are sent with them, in one round trip. The guard
// (Dialect.BatchGuard) runs right after the lock and fails the transaction, before any of
// the batch's statements run, if either value changed (another node changed rooms,
// members or endpoints); the batch then runs again, beginning the usual way. With several
// writers, one writer prepares and sends its batch while another's is in the database:
// the second waits for the lock in the database, not in a round trip after it.
//
// While other nodes write too, batches are begun first, as before: the lock is then
// contended, and a writer whose BEGIN waits for it gathers everything that arrives
// meanwhile into one batch. Sent whole, each node's batches were half as large and the
// commits twice as many (two nodes on two cores: 3,200–4,000 posts/s against 4,300–5,100).
// A node learns of other nodes' commits from their notifications (OtherNodeWrote).
//
// What the batch's posts are known to read (chat.PostHint: the rooms and senders the caches
// lack, thread and idempotency keys, the messages they reply to) is read before any request
// runs, in the round trip that begins the batch, behind the guard (readBatch). Any other
// request that needs a result from the database before it can go on (a read, or a
// statement whose rows it counts) opens the transaction then: BEGIN, the lock and the
// guard go ahead of its statement, in the same round trip, and the batch goes on as a
// begun one.

// expectation is what the next batch of this node's writers expects the room cache
// generation and the endpoint version to be. mu guards every field; ok is false until a
// batch commits having read them and changed neither, and after any batch that changed
// one or failed.
type expectation struct {
	mu           sync.Mutex
	gen, version int64
	ok           bool
}

func (e *expectation) get() (gen, version int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen, e.version, e.ok
}

func (e *expectation) set(gen, version int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gen, e.version, e.ok = gen, version, true
}

func (e *expectation) forget() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ok = false
}

// otherWritersWindow is how long after another node's commit was last heard of batches
// are begun first.
const otherWritersWindow = 2 * time.Second

// OtherNodeWrote tells the store that another node committed a write (its commit
// notification arrived).
func (s *Store) OtherNodeWrote() { s.otherWrote.Store(int64(time.Since(s.born))) }

// OthersWriting reports whether another node's commit was heard of lately: this node's
// batches are then begun before they are gathered.
func (s *Store) OthersWriting() bool {
	last := s.otherWrote.Load()
	return last != 0 && time.Duration(int64(time.Since(s.born))-last) < otherWritersWindow
}

// wholeNow reports whether the next batch may be sent whole: the store can, the
// expectation is known, and no other node was heard writing lately.
func (s *Store) wholeNow() (gen, version int64, ok bool) {
	if !s.whole || s.OthersWriting() {
		return 0, 0, false
	}
	return s.expect.get()
}

// prepareWhole sets tx up to run its batch unopened, if the store sends whole batches and the
// expectation is known (what the batch's posts read that the caches lack goes in the round
// trip that begins it: see readBatch). It reports whether it did.
func (s *Store) prepareWhole(tx *Tx) bool {
	gen, version, ok := s.wholeNow()
	if !ok {
		return false
	}
	s.rooms.atGeneration(gen)
	tx.unopened = true
	tx.gen, tx.genChecked = gen, true
	tx.version, tx.versionRead = version, true
	return true
}

// open puts BEGIN, the batch lock and the guard ahead of the pending statements, if the
// transaction has not been begun: the next round trip begins it.
func (t *Tx) open() {
	if !t.unopened {
		return
	}
	t.unopened = false
	d := t.s.d
	guard := []any{t.gen, t.version}
	if d.ThreadVersion != "" {
		var threads any // NULL: the batch relies on no cached thread
		if t.threadHits {
			threads = t.threads.base
		}
		guard = append(guard, threads)
	}
	t.pending = append([]Stmt{{SQL: d.Begin}, {SQL: d.BatchLock}, {SQL: t.s.sql(d.BatchGuard), Args: guard}}, t.pending...)
	t.labels = append([]stmtLabel{{what: "begin"}, {what: "batch lock"}, {what: "batch guard"}}, t.labels...)
	t.owners = append([]*writeReq{nil, nil, nil}, t.owners...)
	t.opening = 3
}

// checkCachedAnswers sends, for a whole batch that has nothing to commit (every request
// failed before writing), BEGIN, the batch lock and the guard, so that answers made from
// the caches go only if the caches still hold: a sender found not a member, or a thread
// found by its key, may have changed on another node since. The caller rolls back. Stale
// caches fail the guard: the batch runs again, begun.
func (t *Tx) checkCachedAnswers() error {
	if !t.unopened {
		return nil
	}
	t.open()
	if err := t.flush(); err != nil {
		if t.openErr != nil {
			return t.openErr
		}
		return err
	}
	return nil
}
