package sqlstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/chathooks/chathooks/internal/chat"
)

// roomCacheMax bounds the rooms the cache holds; past it, it starts again empty.
const roomCacheMax = 200_000

// roomCache holds, by room id, what a post reads about its room (the room's name and
// member count, its agent members), shared by the store's writers so that a post costs no
// read of them. It is exact:
//   - an entry is made only from reads inside a write transaction that has changed no
//     room, member or user data so far, so it is what the database holds;
//   - a transaction that changes such data reads no entry, and drops every entry when it
//     ends, committed or not;
//   - on a store other nodes write too, every such transaction also bumps the database's
//     room cache generation, and every write batch reads it (under the batch lock, which
//     orders all write batches of all nodes) before its first use of the cache: entries
//     made at another generation are dropped.
//
// mu guards every field.
type roomCache struct {
	mu  sync.Mutex
	gen int64 // the generation the entries were made at (multi-node stores)
	m   map[string]cachedRoom
}

type cachedRoom struct {
	room   chat.Room
	agents []string
}

func (c *roomCache) get(id string) (cachedRoom, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	return r, ok
}

func (c *roomCache) put(id string, r cachedRoom) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= roomCacheMax {
		c.m = make(map[string]cachedRoom)
	}
	c.m[id] = r
}

// drop empties the cache.
func (c *roomCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// atGeneration empties the cache unless its entries were made at generation n.
func (c *roomCache) atGeneration(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != n {
		c.m, c.gen = nil, n
	}
}

// roomDataChanged records that the transaction changes data the room cache holds: the
// cache is not used for the rest of it and is dropped when it ends; on a multi-node store
// the change bumps the generation, in the same transaction.
func (t *Tx) roomDataChanged() error {
	t.membersChanged()
	if t.roomData {
		return nil
	}
	t.roomData = true
	if t.s.d.SingleNode {
		return nil
	}
	return t.deferExec("room cache generation", `UPDATE room_cache_generation SET n = n + 1 WHERE id = 1`)
}

// preloadRooms reads the rooms that the batch's posts name (writeReq.room) and the cache
// lacks, with their agent members, in one statement, and caches them. It runs where the
// cache's generation was read with the batch lock and before any request ran: nothing is
// changed yet, so the entries are exact, as those RoomForPost makes. One missing room is
// left to RoomForPost (the same one round trip).
func (s *Store) preloadRooms(t *Tx, batch []*writeReq) error {
	ids := s.uncachedRooms(batch)
	if len(ids) < 2 {
		return nil
	}
	rows, err := t.c.Query(s.wctx, s.sql(qRoomsAgents), ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var agents string
		room, err := scanRoomWith(rows, &agents)
		if err != nil {
			return err
		}
		s.rooms.put(room.ID, cachedRoom{room: room, agents: splitAgents(agents)})
	}
	return rows.Err()
}

// uncachedRooms are the rooms the batch's posts name that the cache lacks.
func (s *Store) uncachedRooms(batch []*writeReq) []string {
	var ids []string
	for _, r := range batch {
		if r.skip || r.room == "" || slices.Contains(ids, r.room) {
			continue
		}
		if _, ok := s.rooms.get(r.room); !ok {
			ids = append(ids, r.room)
		}
	}
	return ids
}

// qRoomsAgents reads a list of rooms with their agent members (PostgreSQL: an array), each
// room by its key: with "id = ANY(...)" a plan made for any list (PostgreSQL's generic one)
// while the rooms were few scans every room, and is kept as they grow. OFFSET 0 keeps the
// lookup from being flattened back into that.
const qRoomsAgents = `SELECT r.* FROM unnest(CAST(? AS TEXT[])) AS want(id) CROSS JOIN LATERAL (` + roomsWithAgents + `id = want.id OFFSET 0) AS r`

// qRoomGeneration reads the room cache generation.
const qRoomGeneration = `SELECT n FROM room_cache_generation WHERE id = 1`

// qBeginReads reads, with the batch lock, the two values a batch checks its caches by: the
// room cache generation and the endpoint version (both exact until the batch itself
// changes them, as batches hold the lock in turn).
const qBeginReads = `SELECT g.n, v.version FROM room_cache_generation g, endpoint_version v WHERE g.id = 1 AND v.id = 1`

// RoomForPost implements chat.Tx.
func (t *Tx) RoomForPost(id string) (chat.Room, []string, error) {
	if t.roomData {
		return t.roomForPost(id)
	}
	if !t.s.d.SingleNode && !t.genChecked {
		var n int64
		if err := t.row(qRoomGeneration).Scan(&n); err != nil {
			return chat.Room{}, nil, fmt.Errorf("store: room cache generation: %w", err)
		}
		t.genChecked = true
		t.s.rooms.atGeneration(n)
	}
	if r, ok := t.s.rooms.get(id); ok {
		return r.room, slices.Clone(r.agents), nil
	}
	room, agents, err := t.roomForPost(id)
	if err != nil {
		return room, agents, err
	}
	t.s.rooms.put(id, cachedRoom{room: room, agents: slices.Clone(agents)})
	return room, agents, nil
}

// roomForPost reads a room and its agent members.
func (t *Tx) roomForPost(id string) (chat.Room, []string, error) {
	room, err := t.GetRoom(id)
	if err != nil {
		return room, nil, err
	}
	agents, err := t.RoomAgents(id)
	return room, agents, err
}
