package sqlstore

import (
	"fmt"
	"sync"
)

// seqCache holds, by room id, the number of the room's newest event, on a store whose
// room events are numbered by reading that number before the insert (SingleNode: SQLite),
// so that a post's event costs no read. It is exact, as the room cache is:
//   - one process owns the database and writes it only through the store's writer, so
//     only the writer's transactions change these numbers;
//   - a transaction reads entries, and its own appends and reads go into its own map
//     (Tx.seqs), only while it runs without savepoints and has deleted no room (a room's
//     numbers change otherwise only by its own appends: retention keeps an existing
//     room's newest event, and creating a room or changing its members changes no event);
//   - when it commits, its map's numbers are put in the cache; a transaction run under
//     savepoints forgets the entries of every room it appended to instead, and one that
//     deleted a room empties the cache, committed or not;
//   - a transaction that does not commit, or whose commit failed (it may have
//     committed), forgets the entries of the rooms in its map.
//
// mu guards every field.
type seqCache struct {
	mu sync.Mutex
	m  map[string]int64
}

// seqCacheMax bounds the rooms the cache holds; past it, it starts again empty.
const seqCacheMax = 200_000

func (c *seqCache) get(room string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[room]
	return n, ok
}

// put records numbers a committed transaction leaves.
func (c *seqCache) put(seqs map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(seqs) > seqCacheMax {
		c.m = make(map[string]int64, len(seqs))
	}
	for room, n := range seqs {
		c.m[room] = n
	}
}

// forget drops the entries of the rooms in seqs.
func (c *seqCache) forget(seqs map[string]int64) {
	if len(seqs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for room := range seqs {
		delete(c.m, room)
	}
}

// drop empties the cache.
func (c *seqCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// seqsCached reports whether the transaction may read the number of a room's newest event
// from its map and the store's cache (see seqCache).
func (t *Tx) seqsCached() bool {
	return t.s.d.SingleNode && !t.savepoints && !t.roomDeleted
}

// roomLastSeq is the number of the room's newest event as this transaction sees it; a
// room that does not exist is not_found. Read from the database, it is remembered in the
// transaction's map.
func (t *Tx) roomLastSeq(room string) (int64, error) {
	if t.seqsCached() {
		if n, ok := t.seqs[room]; ok {
			return n, nil
		}
		if n, ok := t.s.seqs.get(room); ok {
			return n, nil
		}
	}
	var n int64
	err := t.row(qRoomLastSeq, room).Scan(&n)
	if t.noRows(err) {
		return 0, roomMissing(room)
	}
	if err != nil {
		return 0, fmt.Errorf("store: room seq: %w", err)
	}
	t.noteSeq(room, n)
	return n, nil
}

// noteSeq records that the room's newest event, as this transaction sees it, is number n.
func (t *Tx) noteSeq(room string, n int64) {
	if !t.s.d.SingleNode {
		return
	}
	if t.seqs == nil {
		t.seqs = make(map[string]int64)
	}
	t.seqs[room] = n
}

// settleSeqs hands the transaction's numbers to the store's cache once it committed. A
// transaction that deleted a room leaves nothing: tryBatch empties the cache after it,
// committed or not.
func (s *Store) settleSeqs(t *Tx) {
	switch {
	case t.roomDeleted:
	case t.savepoints:
		s.seqs.forget(t.seqs)
	case len(t.seqs) > 0:
		s.seqs.put(t.seqs)
	}
}
