package sqlstore

import "github.com/chathooks/chathooks/internal/chat"

// readAhead holds what a batch's posts will read besides their rooms and senders (a
// thread key's thread, an idempotency key's message, the messages they reply to), read for
// the whole batch in a statement a kind (Store.readBatch) instead of a round trip a post.
// It belongs to one transaction and is exact: it is read under the batch lock before any
// of the batch's requests ran, and the transaction's own writes keep it current (a key
// it sets, a message it edits or deletes); a rollback to a savepoint or a change of room
// data drops it all (Tx.forgetReads), and reads then go to the database again. A nil
// readAhead holds nothing.
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
func (s *Store) readAheadStmts(batch []*writeReq) (*readAhead, []Stmt) {
	var keyRooms, keys, idemRooms, scopes, idemKeys, msgRooms, msgIDs []string
	for _, r := range batch {
		if r.skip {
			continue
		}
		h := r.post
		if k := (memberKey{h.Room, h.ThreadKey}); h.ThreadKey != "" && !hasPair(keyRooms, keys, k) {
			keyRooms, keys = append(keyRooms, k.room), append(keys, k.user)
		}
		if k := (memberKey{h.IdemScope, h.IdemKey}); h.IdemKey != "" && !hasPair(scopes, idemKeys, k) {
			idemRooms, scopes, idemKeys = append(idemRooms, h.Room), append(scopes, k.room), append(idemKeys, k.user)
		}
		if k := (memberKey{h.Room, h.Message}); h.Message != "" && !hasPair(msgRooms, msgIDs, k) {
			msgRooms, msgIDs = append(msgRooms, k.room), append(msgIDs, k.user)
		}
	}
	if len(keys) == 0 && len(idemKeys) == 0 && len(msgIDs) == 0 {
		return nil, nil
	}
	// Every key asked for is known after the read: "" for those not found.
	a := &readAhead{keys: make(map[memberKey]string, len(keys)), idem: make(map[memberKey]string, len(idemKeys)), msgs: map[memberKey]chat.Message{}}
	for i := range keys {
		a.keys[memberKey{keyRooms[i], keys[i]}] = ""
	}
	for i := range idemKeys {
		a.idem[memberKey{scopes[i], idemKeys[i]}] = ""
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
	var stmts []Stmt
	if len(keys) > 0 {
		stmts = append(stmts, Stmt{SQL: s.sql(qThreadKeysAhead), Args: []any{keyRooms, keys}, Rows: pairs(a.keys)})
	}
	if len(idemKeys) > 0 {
		stmts = append(stmts, Stmt{SQL: s.sql(qIdempotencyAhead), Args: []any{scopes, idemKeys}, Rows: pairs(a.idem)})
	}
	stmts = append(stmts, Stmt{SQL: s.sql(qMessagesAhead), Args: []any{keyRooms, keys, idemRooms, scopes, idemKeys, msgRooms, msgIDs},
		Rows: func(rows Rows) error {
			for rows.Next() {
				m, err := scanMessage(rows)
				if err != nil {
					return err
				}
				a.msgs[memberKey{m.RoomID, m.ID}] = m
			}
			return nil
		}})
	return a, stmts
}

// readBatch reads, in one round trip, what the batch's posts will read and the caches
// lack: their rooms and senders (into the room cache) and what the transaction reads ahead
// (t.ahead). A whole batch is begun by the same round trip (its BEGIN, lock and guard go
// ahead of the reads, and a stale cache fails the guard before they run); a begun one has
// read the cache's generation with the lock already.
func (s *Store) readBatch(t *Tx, batch []*writeReq) error {
	stmts := s.preloadStmts(batch)
	ahead, more := s.readAheadStmts(batch)
	stmts = append(stmts, more...)
	if len(stmts) == 0 {
		return nil
	}
	if _, _, err := t.send(stmts, nil); err != nil {
		return err
	}
	t.ahead = ahead
	return nil
}

// hasPair reports whether (as[i], bs[i]) is k for some i.
func hasPair(as, bs []string, k memberKey) bool {
	for i := range as {
		if as[i] == k.room && bs[i] == k.user {
			return true
		}
	}
	return false
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
