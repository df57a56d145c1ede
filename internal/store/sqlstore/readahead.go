package sqlstore

import (
	"slices"

	"github.com/chathooks/chathooks/internal/chat"
)

// readAhead holds what a batch's posts will read besides their rooms and senders (a
// thread key's thread, an idempotency key's message, the messages they reply to), read for
// the whole batch in a statement a kind (Store.readBatch) instead of a round trip a post.
// It belongs to one transaction and is exact: it is read under the batch lock before any
// of the batch's requests ran, and the transaction's own writes keep it current (a key
// it sets, a message it inserts, edits or deletes); a rollback to a savepoint or a change
// of room data drops it all (Tx.forgetReads), and reads then go to the database again. A
// nil readAhead holds nothing.
type readAhead struct {
	keys map[memberKey]string       // (room, thread key): the thread it names, "" for none
	idem map[memberKey]string       // (scope, key): the message it names, "" for none
	msgs map[memberKey]chat.Message // (room, id): the message (absent: not read ahead)
}

func (a *readAhead) threadKey(room, key string) (string, bool) {
	if a == nil {
		return "", false
	}
	id, ok := a.keys[memberKey{room, key}]
	return id, ok
}

func (a *readAhead) setThreadKey(room, key, thread string) {
	if a != nil && a.keys != nil {
		a.keys[memberKey{room, key}] = thread
	}
}

func (a *readAhead) idempotent(scope, key string) (string, bool) {
	if a == nil {
		return "", false
	}
	id, ok := a.idem[memberKey{scope, key}]
	return id, ok
}

func (a *readAhead) setIdempotent(scope, key, message string) {
	if a != nil && a.idem != nil {
		a.idem[memberKey{scope, key}] = message
	}
}

func (a *readAhead) message(room, id string) (chat.Message, bool) {
	if a == nil {
		return chat.Message{}, false
	}
	m, ok := a.msgs[memberKey{room, id}]
	return m, ok
}

// messageInserted remembers a message the transaction inserted, as a read would find it
// (a reply later in the batch reads its thread's first message).
func (a *readAhead) messageInserted(m chat.Message) {
	if a != nil && a.msgs != nil {
		a.msgs[memberKey{m.RoomID, m.ID}] = storedMessage(m)
	}
}

// messageChanged forgets a message the transaction edits or deletes.
func (a *readAhead) messageChanged(room, id string) {
	if a != nil {
		delete(a.msgs, memberKey{room, id})
	}
}

// readAheadStmts are the statements that read the thread keys and idempotency keys the
// batch's posts look up and the messages they reply to or repeat (those they name, and
// those the keys name), and the readAhead their rows fill (nil, none, if the posts name
// nothing to read). They are sent (readBatch) with the batch lock, before any request ran.
// A whole batch takes what the thread cache holds instead of reading it (the batch guard
// then checks the cache's version), and so does a batch that read the version with BEGIN
// and the lock (the cache is taken only if it holds that version); with a thread cache, the
// version is read first in the same round trip as the reads, and learn, once the statements
// ran, puts what they read into the cache.
func (s *Store) readAheadStmts(t *Tx, batch []*writeReq) (a *readAhead, stmts []Stmt, learn func()) {
	var keys, idems, msgs []memberKey
	var idemRooms []string
	for _, r := range batch {
		if r.skip {
			continue
		}
		h := r.post
		if k := (memberKey{h.Room, h.ThreadKey}); h.ThreadKey != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if k := (memberKey{h.IdemScope, h.IdemKey}); h.IdemKey != "" && !slices.Contains(idems, k) {
			idems, idemRooms = append(idems, k), append(idemRooms, h.Room)
		}
		if k := (memberKey{h.Room, h.Message}); h.Message != "" && !slices.Contains(msgs, k) {
			msgs = append(msgs, k)
		}
	}
	if len(keys) == 0 && len(idems) == 0 && len(msgs) == 0 {
		return nil, nil, nil
	}
	a = &readAhead{keys: make(map[memberKey]string, len(keys)), idem: make(map[memberKey]string, len(idems)), msgs: map[memberKey]chat.Message{}}
	if s.threads != nil && t.threads.baseOK && (t.unopened || t.threadsLocked) {
		var used bool
		keys, msgs, used = s.threads.hits(t.threads.base, a, keys, msgs)
		t.threadHits = t.threadHits || used
	}
	keys, idems = s.takeNewKeys(t, a, keys, idems)
	// Every key asked for is known after the read: "" for those not found.
	for _, k := range keys {
		a.keys[k] = ""
	}
	for _, k := range idems {
		a.idem[k] = ""
	}
	if len(keys) == 0 && len(idems) == 0 && len(msgs) == 0 {
		return a, nil, nil // all from the cache
	}
	pairs := func(m map[memberKey]string) func(Rows) error {
		return func(rows Rows) error {
			for rows.Next() {
				var k memberKey
				var v string
				if err := rows.Scan(&k.room, &k.user, &v); err != nil {
					return err
				}
				m[k] = v
			}
			return nil
		}
	}
	var version int64
	if s.threads != nil {
		// The version first: what the reads after it find is no older than it.
		stmts = append(stmts, Stmt{SQL: s.sql(s.d.ThreadVersion), Scan: func(r Row) error { return r.Scan(&version) }})
	}
	keyRooms, keyNames := split(keys)
	scopes, idemKeys := split(idems)
	msgRooms, msgIDs := split(msgs)
	if len(keys) > 0 {
		stmts = append(stmts, Stmt{SQL: s.sql(qThreadKeysAhead), Args: []any{keyRooms, keyNames}, Rows: pairs(a.keys)})
	}
	if len(idems) > 0 {
		stmts = append(stmts, Stmt{SQL: s.sql(qIdempotencyAhead), Args: []any{scopes, idemKeys}, Rows: pairs(a.idem)})
	}
	read := map[memberKey]chat.Message{}
	stmts = append(stmts, Stmt{SQL: s.sql(qMessagesAhead), Args: []any{keyRooms, keyNames, idemRooms, scopes, idemKeys, msgRooms, msgIDs},
		Rows: func(rows Rows) error {
			for rows.Next() {
				m, err := scanMessage(rows)
				if err != nil {
					return err
				}
				k := memberKey{m.RoomID, m.ID}
				a.msgs[k], read[k] = m, m
			}
			return nil
		}})
	if s.threads != nil {
		learn = func() {
			t.threads.base, t.threads.baseOK = version, true
			found := make(map[memberKey]string, len(keys))
			for _, k := range keys {
				found[k] = a.keys[k]
			}
			s.threads.learn(version, found, read)
		}
	}
	return a, stmts, learn
}

// split turns pairs into the two arrays a statement takes.
func split(ks []memberKey) (as, bs []string) {
	as, bs = make([]string, len(ks)), make([]string, len(ks))
	for i, k := range ks {
		as[i], bs[i] = k.room, k.user
	}
	return as, bs
}

// readBatch reads, in one round trip, what the batch's posts will read and the caches
// lack: their rooms and senders (into the room cache) and what the transaction reads ahead
// (t.ahead). A whole batch is begun by the same round trip (its BEGIN, lock and guard go
// ahead of the reads, and a stale cache fails the guard before they run); a begun one has
// read the cache's generation with the lock already.
func (s *Store) readBatch(t *Tx, batch []*writeReq) error {
	stmts := s.preloadStmts(batch)
	ahead, more, learn := s.readAheadStmts(t, batch)
	stmts = append(stmts, more...)
	t.ahead = ahead
	if len(stmts) == 0 {
		return nil
	}
	if _, _, err := t.send(stmts, nil); err != nil {
		t.ahead = nil
		return err
	}
	if learn != nil {
		learn()
	}
	return nil
}

// The read-ahead statements (PostgreSQL: arrays), each row by its key (OFFSET 0, as in
// qRoomsAgents); pairs and triples come as arrays of the same length. qMessagesAhead reads
// the messages the thread keys name, those the idempotency keys name (in the post's room),
// and those named by id.
const (
	qThreadKeysAhead = `SELECT k.room_id, k.key, k.thread_id FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS want(room_id, key)
	CROSS JOIN LATERAL (SELECT room_id, key, thread_id FROM thread_keys WHERE room_id = want.room_id AND key = want.key OFFSET 0) AS k`
	qIdempotencyAhead = `SELECT i.scope, i.key, i.message_id FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS want(scope, key)
	CROSS JOIN LATERAL (SELECT scope, key, message_id FROM idempotency WHERE scope = want.scope AND key = want.key OFFSET 0) AS i`
	qMessagesAhead = `SELECT m.* FROM (
	SELECT k.room_id, k.thread_id FROM unnest(CAST(?1 AS TEXT[]), CAST(?2 AS TEXT[])) AS want(room_id, key)
		CROSS JOIN LATERAL (SELECT room_id, thread_id FROM thread_keys WHERE room_id = want.room_id AND key = want.key OFFSET 0) AS k
	UNION SELECT want.room_id, i.message_id FROM unnest(CAST(?3 AS TEXT[]), CAST(?4 AS TEXT[]), CAST(?5 AS TEXT[])) AS want(room_id, scope, key)
		CROSS JOIN LATERAL (SELECT message_id FROM idempotency WHERE scope = want.scope AND key = want.key OFFSET 0) AS i
	UNION SELECT * FROM unnest(CAST(?6 AS TEXT[]), CAST(?7 AS TEXT[]))
	) AS ids(room_id, id) CROSS JOIN LATERAL (SELECT ` + messageCols + ` FROM messages WHERE room_id = ids.room_id AND id = ids.id OFFSET 0) AS m`
)
