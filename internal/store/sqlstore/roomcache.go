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
// member count, its agent members), and by room and user what a user's post or read
// marker reads about its user (the user, and whether they are a member), shared by the
// store's writers so that a post costs no read of them. It is exact:
//   - an entry is made only from reads inside a write transaction that has changed no
//     room, member or user data so far and inserted no room or user, so it is what the
//     database holds;
//   - a transaction that changes such data reads no entry, and drops every entry when it
//     ends, committed or not;
//   - on a store other nodes write too, every such transaction also bumps the database's
//     room cache generation, and every write batch reads it (under the batch lock, which
//     orders all write batches of all nodes) before its first use of the cache: entries
//     made at another generation are dropped.
//
// mu guards every field.
type roomCache struct {
	mu      sync.Mutex
	gen     int64 // the generation the entries were made at (multi-node stores)
	m       map[string]cachedRoom
	users   map[string]chat.User // without presence
	members map[memberKey]bool   // whether the user is a member of the room
}

type cachedRoom struct {
	room   chat.Room
	agents []string
}

type memberKey struct{ room, user string }

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

// getMember returns the user and whether they are a member of the room, if both are held.
func (c *roomCache) getMember(room, user string) (u chat.User, member, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if member, ok = c.members[memberKey{room, user}]; !ok {
		return u, false, false
	}
	u, ok = c.users[user]
	return u, member, ok
}

func (c *roomCache) putMember(room string, u chat.User, member bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil || len(c.users) >= roomCacheMax {
		c.users = make(map[string]chat.User)
	}
	if c.members == nil || len(c.members) >= roomCacheMax {
		c.members = make(map[memberKey]bool)
	}
	c.users[u.ID] = u
	c.members[memberKey{room, u.ID}] = member
}

// drop empties the cache.
func (c *roomCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.users, c.members = nil, nil, nil
}

// atGeneration empties the cache unless its entries were made at generation n.
func (c *roomCache) atGeneration(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != n {
		c.m, c.users, c.members, c.gen = nil, nil, nil, n
	}
}

// roomDataChanged records that the transaction changes data the room cache holds: the
// cache is not used for the rest of it and is dropped when it ends; on a multi-node store
// the change bumps the generation, in the same transaction.
func (t *Tx) roomDataChanged() error {
	t.forgetReads()
	if t.roomData {
		return nil
	}
	t.roomData = true
	if t.s.d.SingleNode {
		return nil
	}
	return t.deferExec("room cache generation", `UPDATE room_cache_generation SET n = n + 1 WHERE id = 1`)
}

// preloadStmts are the statements that read the rooms that the batch's posts name
// (writeReq.post.Room) and the cache lacks, with their agent members, and the users who
// send them and the cache lacks (writeReq.post.User) with their membership; their rows go
// into the cache. They are sent (readBatch) where the cache's generation is known to hold,
// with the batch lock, before any request ran: nothing is changed yet, so the entries are
// exact, as those RoomForPost and UserInRoom make.
func (s *Store) preloadStmts(batch []*writeReq) []Stmt {
	ids, senders := s.uncached(batch)
	var stmts []Stmt
	if len(ids) > 0 {
		stmts = append(stmts, Stmt{SQL: s.sql(qRoomsAgents), Args: []any{ids}, Rows: func(rows Rows) error {
			for rows.Next() {
				var agents string
				room, err := scanRoomWith(rows, &agents)
				if err != nil {
					return err
				}
				s.rooms.put(room.ID, cachedRoom{room: room, agents: splitAgents(agents)})
			}
			return nil
		}})
	}
	if len(senders) > 0 {
		rooms, users := make([]string, len(senders)), make([]string, len(senders))
		for i, k := range senders {
			rooms[i], users[i] = k.room, k.user
		}
		stmts = append(stmts, Stmt{SQL: s.sql(qUsersInRooms), Args: []any{rooms, users}, Rows: func(rows Rows) error {
			for rows.Next() {
				var room string
				var member bool
				u, err := scanUserWith(rows, &room, &member)
				if err != nil {
					return err
				}
				s.rooms.putMember(room, u, member)
			}
			return nil
		}})
	}
	return stmts
}

// uncached are the rooms the batch's posts name that the cache lacks, and the (room,
// sender) pairs of its users' posts that it lacks.
func (s *Store) uncached(batch []*writeReq) (rooms []string, senders []memberKey) {
	for _, r := range batch {
		if r.skip || r.post.Room == "" {
			continue
		}
		if !slices.Contains(rooms, r.post.Room) {
			if _, ok := s.rooms.get(r.post.Room); !ok {
				rooms = append(rooms, r.post.Room)
			}
		}
		if k := (memberKey{r.post.Room, r.post.User}); k.user != "" && !slices.Contains(senders, k) {
			if _, _, ok := s.rooms.getMember(k.room, k.user); !ok {
				senders = append(senders, k)
			}
		}
	}
	return rooms, senders
}

// qUsersInRooms reads, for a list of (room, user) pairs given as two arrays (PostgreSQL),
// each user that exists with the room and whether they are a member of it; each user by its
// key (OFFSET 0, as in qRoomsAgents).
const qUsersInRooms = `SELECT u.*, want.room_id, EXISTS (SELECT 1 FROM members m WHERE m.room_id = want.room_id AND m.user_id = want.user_id)
	FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS want(room_id, user_id)
	CROSS JOIN LATERAL (` + userNoPresenceCols + ` FROM users u WHERE u.id = want.user_id OFFSET 0) AS u`

// qRoomsAgents reads a list of rooms with their agent members (PostgreSQL: an array), each
// room by its key: with "id = ANY(...)" a plan made for any list (PostgreSQL's generic one)
// while the rooms were few scans every room, and is kept as they grow. OFFSET 0 keeps the
// lookup from being flattened back into that.
const qRoomsAgents = `SELECT r.* FROM unnest(CAST(? AS TEXT[])) AS want(id) CROSS JOIN LATERAL (` + roomsWithAgents + `id = want.id OFFSET 0) AS r`

// qRoomGeneration reads the room cache generation.
const qRoomGeneration = `SELECT n FROM room_cache_generation WHERE id = 1`

// beginReads reads, with the batch lock, the values a batch checks its caches by: the room
// cache generation and the endpoint version, and, given the dialect's statement that reads
// it (threadVersion, "" for none), the thread cache's version (all exact until the batch
// itself changes them, as batches hold the lock in turn).
func beginReads(threadVersion string) string {
	cols := "g.n, v.version"
	if threadVersion != "" {
		cols += ", (" + threadVersion + ")"
	}
	return "SELECT " + cols + " FROM room_cache_generation g, endpoint_version v WHERE g.id = 1 AND v.id = 1"
}

// RoomForPost implements chat.Tx.
func (t *Tx) RoomForPost(id string) (chat.Room, []string, error) {
	if t.roomData {
		return t.roomForPost(id)
	}
	if err := t.checkGeneration(); err != nil {
		return chat.Room{}, nil, err
	}
	if r, ok := t.s.rooms.get(id); ok {
		return r.room, slices.Clone(r.agents), nil
	}
	room, agents, err := t.roomForPost(id)
	if err != nil || t.created {
		return room, agents, err
	}
	t.s.rooms.put(id, cachedRoom{room: room, agents: slices.Clone(agents)})
	return room, agents, nil
}

// checkGeneration makes sure, on a store other nodes write too, that the cache holds only
// entries made at the room cache generation this transaction runs at: read once a
// transaction (a whole batch knows it already).
func (t *Tx) checkGeneration() error {
	if t.s.d.SingleNode || t.genChecked {
		return nil
	}
	var n int64
	if err := t.row(qRoomGeneration).Scan(&n); err != nil {
		return fmt.Errorf("store: room cache generation: %w", err)
	}
	t.genChecked = true
	t.s.rooms.atGeneration(n)
	return nil
}

// UserInRoom implements chat.Tx.
func (t *Tx) UserInRoom(roomID, userID string) (chat.User, bool, error) {
	if t.roomData {
		return t.userInRoom(roomID, userID)
	}
	if err := t.checkGeneration(); err != nil {
		return chat.User{}, false, err
	}
	if u, member, ok := t.s.rooms.getMember(roomID, userID); ok {
		return u, member, nil
	}
	u, member, err := t.userInRoom(roomID, userID)
	if err != nil || t.created {
		return u, member, err
	}
	t.s.rooms.putMember(roomID, u, member)
	return u, member, nil
}

// userInRoom reads a user and whether they are a member of the room, in one statement.
func (t *Tx) userInRoom(roomID, userID string) (chat.User, bool, error) {
	var member bool
	u, err := scanUserWith(t.row(qUserInRoom, userID, roomID), &member)
	return u, member, t.s.notFound(err, fmt.Sprintf("user %q", userID))
}

// qUserInRoom reads a user (without presence) with whether they are a member of a room.
const qUserInRoom = userNoPresenceCols + `, EXISTS (SELECT 1 FROM members m WHERE m.room_id = ?2 AND m.user_id = u.id) FROM users u WHERE u.id = ?1`

// roomForPost reads a room and its agent members.
func (t *Tx) roomForPost(id string) (chat.Room, []string, error) {
	room, err := t.GetRoom(id)
	if err != nil {
		return room, nil, err
	}
	agents, err := t.RoomAgents(id)
	return room, agents, err
}
