package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Tx is the chat.Tx of a writer's current batch; it is used only on that writer goroutine.
type Tx struct {
	s     *Store
	c     WriterConn
	rooms map[string]struct{} // rooms with new events, for commit notifications
	// endpoints: an endpoint changed; deliveries: leases were released or deliveries
	// written unleased (other nodes' engines should look). Both for commit notifications.
	endpoints, deliveries bool
	// webhooks: a webhook token was changed or revoked (other nodes' token lookup caches
	// must forget), for commit notifications.
	webhooks bool
	// Of the request running now: wrote, it ran a statement that may change rows; broken,
	// a statement failed (on PostgreSQL that aborts the transaction). A request that fails
	// with neither left nothing to undo (runBatch).
	wrote, broken bool
	// version is the endpoint version read in this transaction, if versionRead (see
	// EndpointRoutes).
	version     int64
	versionRead bool
	// agents holds, by room, the agent members read with the room by GetRoom in this
	// transaction (RoundTrips dialects: it saves RoomAgents a round trip). Only this
	// transaction can change them meanwhile (batches commit one at a time): a membership
	// or user change in it, or a rollback to a savepoint, drops them all.
	agents map[string][]string
	// ahead: what this batch's posts read, read ahead for them (readahead.go); nil if not.
	ahead *readAhead
	// roomData: this transaction changed data the room cache holds (roomDataChanged);
	// created: it inserted a room or a user, which its reads would see before the commit,
	// so they make no cache entries (a rollback would leave one naming a row that never
	// was); genChecked: the room cache generation was read in it (RoomForPost).
	roomData, created, genChecked bool
	// pending holds statements whose results nobody reads yet, to be sent with the next
	// statement of the batch or before its commit (Pipeliner connections); labels name
	// them for errors, owners are the requests that made them. cur is the request
	// running. earlier: a statement of another request than cur failed when sent (that
	// request failed after writing, with earlierErr).
	pending    []Stmt
	labels     []stmtLabel
	owners     []*writeReq
	cur        *writeReq
	earlier    *writeReq
	earlierErr error
	// A whole batch (whole.go): unopened, the transaction is not begun yet (it was prepared
	// expecting gen and version, which nothing can change before its first statement is
	// sent, and that statement opens it); opening, the first statements of pending are its
	// BEGIN, lock and guard (until sent); openErr, they failed (the guard found the caches
	// stale, or the connection failed): the batch runs again. gen is the room cache
	// generation the batch runs with, either way.
	unopened bool
	opening  int
	openErr  error
	gen      int64
	// noMerge: pending statements are sent as they are (the batch's rerun after a merged
	// statement failed); mergeFailed: a merged statement failed, so no request can be
	// blamed and the batch runs again without merging (merge.go).
	noMerge, mergeFailed bool
	// savepoints: each request runs under a savepoint (a rollback to one undoes that
	// request's statements, not what the transaction remembers of them).
	savepoints bool
	// seqs: by room, the number of the newest event this transaction appended or read
	// (single-node stores; seqcache.go). roomDeleted: it deleted a room.
	seqs        map[string]int64
	roomDeleted bool
	// The thread cache (threadcache.go), where the store has one: threads, this
	// transaction's changes to what it holds and the version they start from; threadHits,
	// the batch relies on entries of that version (a whole batch's guard checks it);
	// threadsLocked, that version was read under the batch lock with BEGIN, so entries of
	// it are exact with no guard.
	threads                   threadChanges
	threadHits, threadsLocked bool
	// Thread and idempotency keys taken to be new (newkeys.go): newKeys, by key, how far the
	// transaction relied on that; keysFound, how many of them are newKeyFound (found new,
	// not inserted yet); keyTaken, an insert of such a key failed (it was not new after
	// all); readKeys, this run takes no key to be new.
	newKeys            map[newKey]newKeyUse
	keysFound          int
	keyTaken, readKeys bool
}

// stmtLabel names a deferred statement in errors: what it writes, and the id of the row
// when it has one (quoted only when an error needs the text). kind says whether it may be
// merged with others (merge.go); merged, that it is such a merge of several requests'.
// room is the room of a room event's append, whose failure as not found means the room
// does not exist.
type stmtLabel struct {
	what, id, room string
	kind           mergeKind
	merged         bool
	assumed        bool // it inserts keys taken to be new (newkeys.go)
}

func (l stmtLabel) String() string {
	if l.id == "" {
		return l.what
	}
	return l.what + " " + strconv.Quote(l.id)
}

// deferExec runs a statement whose result is not needed: on a Pipeliner connection it is
// sent with the request's next statement (or when the request ends), saving a round trip;
// its error is then returned by that statement's call, or by flush.
func (t *Tx) deferExec(what, q string, args ...any) error {
	return t.deferExecID(stmtLabel{what: what}, q, args...)
}

// deferExecID is deferExec for the row named by l.
func (t *Tx) deferExecID(l stmtLabel, q string, args ...any) error {
	if _, ok := t.c.(Pipeliner); !ok || !t.s.d.RoundTrips {
		_, err := t.exec(q, args...)
		if err != nil {
			return t.s.mapErr(err, l.String())
		}
		return nil
	}
	t.wrote = true
	t.pending = append(t.pending, Stmt{SQL: t.s.sql(q), Args: args})
	t.labels = append(t.labels, l)
	t.owners = append(t.owners, t.cur)
	return nil
}

// deferScan is deferExecID for a statement that returns one row: scan reads it when the
// statement is sent (at once where statements are not pipelined).
func (t *Tx) deferScan(l stmtLabel, q string, scan func(Row) error, args ...any) error {
	if _, ok := t.c.(Pipeliner); !ok || !t.s.d.RoundTrips {
		if err := scan(t.row(q, args...)); err != nil {
			return t.s.mapErr(err, l.String())
		}
		return nil
	}
	t.wrote = true
	t.pending = append(t.pending, Stmt{SQL: t.s.sql(q), Args: args, Scan: scan})
	t.labels = append(t.labels, l)
	t.owners = append(t.owners, t.cur)
	return nil
}

// pipeline sends the pending statements followed by q (scanned by scan, or executed).
func (t *Tx) pipeline(q string, args []any, scan func(Row) error) (int64, error) {
	n, pendingFailed, err := t.send([]Stmt{{SQL: t.s.sql(q), Args: args}}, scan)
	if pendingFailed {
		return 0, err
	}
	return n, err
}

// send sends the pending statements followed by more, together (the last scanned by
// scan, or executed). When a pending statement fails (the rest does not run), its error
// is mapped, the transaction marked broken and the request that deferred it blamed.
func (t *Tx) send(more []Stmt, scan func(Row) error) (n int64, pendingFailed bool, err error) {
	t.open()
	t.mergePending()
	stmts := append(t.pending, more...)
	labels, owners, opening := t.labels, t.owners, t.opening
	t.pending, t.labels, t.owners, t.opening = nil, nil, nil, 0
	n, failed, err := t.c.(Pipeliner).Pipeline(t.s.wctx, stmts, scan)
	if err != nil && failed < opening { // (flush may send the guard as the last statement)
		t.broken, t.openErr = true, fmt.Errorf("%w: %w", errNotBegun, err)
		return 0, true, err
	}
	if err == nil || failed >= len(labels) {
		return n, false, err
	}
	t.broken = true
	if labels[failed].assumed {
		// A key taken to be new was not, or its insert failed otherwise: no request is to
		// blame until the batch runs again reading its keys.
		t.keyTaken = true
		return 0, true, fmt.Errorf("store: %s: %w", labels[failed], err)
	}
	if labels[failed].merged {
		t.mergeFailed = true
		return 0, true, fmt.Errorf("store: %s: %w", labels[failed], err)
	}
	if l := labels[failed]; l.room != "" && t.s.d.Classify(err) == chat.CodeNotFound {
		err = roomMissing(l.room)
	} else {
		err = t.s.mapErr(err, l.String())
	}
	if o := owners[failed]; o != t.cur && t.earlier == nil {
		t.earlier, t.earlierErr = o, err
	}
	return 0, true, err
}

// flushAndCommit sends the pending statements, then after and COMMIT, in one round trip.
// stmtErr is the failure of a pending statement, which stops the rest (the COMMIT does not
// run), blamed as flush blames it. commitErr is any other failure: of after or the COMMIT,
// or a lost connection, after which the transaction may have committed.
func (t *Tx) flushAndCommit(after []Stmt) (stmtErr, commitErr error) {
	_, pendingFailed, err := t.send(append(after, Stmt{SQL: "COMMIT"}), nil)
	if err == nil {
		return nil, nil
	}
	if !pendingFailed || t.s.connectionFailed(err) {
		return nil, err
	}
	return err, nil
}

// flush sends the pending statements; the writer calls it before the commit (and after
// each request when it runs them under savepoints). A failure is blamed as send blames it.
func (t *Tx) flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	_, _, err := t.send(nil, nil)
	return err
}

// forgetReads drops what the transaction remembers of what it read: room members, and what
// it read ahead for its posts.
func (t *Tx) forgetReads() { t.agents, t.ahead = nil, nil }

func (t *Tx) exec(q string, args ...any) (int64, error) {
	t.wrote = true
	t.open()
	if len(t.pending) > 0 {
		n, err := t.pipeline(q, args, nil)
		if err != nil {
			t.broken = true
		}
		return n, err
	}
	n, err := t.c.Exec(t.s.wctx, t.s.sql(q), args...)
	if err != nil {
		t.broken = true
	}
	return n, err
}

// isRead reports whether a statement only reads (every read here starts with SELECT).
func isRead(q string) bool { return strings.HasPrefix(q, "SELECT") }

func (t *Tx) row(q string, args ...any) Row {
	if !isRead(q) {
		t.wrote = true
	}
	t.open()
	if len(t.pending) > 0 {
		return pipelinedRow{t, q, args}
	}
	return trackedRow{t.c.QueryRow(t.s.wctx, t.s.sql(q), args...), t}
}

// pipelinedRow sends the pending statements and its query when scanned.
type pipelinedRow struct {
	t    *Tx
	q    string
	args []any
}

func (r pipelinedRow) Scan(dest ...any) error {
	_, err := r.t.pipeline(r.q, r.args, func(row Row) error { return trackedRow{row, r.t}.Scan(dest...) })
	return err
}

func (t *Tx) query(q string, args ...any) (Rows, error) {
	if !isRead(q) {
		t.wrote = true
	}
	t.open()
	if err := t.flush(); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(t.s.wctx, t.s.sql(q), args...)
	if err != nil {
		t.broken = true
		return nil, err
	}
	return &trackedRows{rows, t}, nil
}

// trackedRow marks the Tx broken when the statement failed ("no rows" is not a failure).
type trackedRow struct {
	r Row
	t *Tx
}

func (r trackedRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if err != nil && !r.t.noRows(err) {
		r.t.broken = true
	}
	return err
}

// trackedRows marks the Tx broken when the statement or a scan failed.
type trackedRows struct {
	Rows
	t *Tx
}

func (r *trackedRows) Scan(dest ...any) error {
	err := r.Rows.Scan(dest...)
	if err != nil {
		r.t.broken = true
	}
	return err
}

func (r *trackedRows) Err() error {
	err := r.Rows.Err()
	if err != nil {
		r.t.broken = true
	}
	return err
}

// mustAffect returns a not_found error if the statement changed no row.
func (t *Tx) mustAffect(n int64, err error, what string) error {
	if err != nil {
		return t.s.mapErr(err, what)
	}
	if n == 0 {
		return chat.Errorf(chat.CodeNotFound, "%s not found", what)
	}
	return nil
}

// noRows reports whether err is the driver's "no rows" error.
func (t *Tx) noRows(err error) bool { return t.s.d.NoRows(err) }

// GetUser implements chat.Tx.
// Presence is not computed inside writes (it is reported as false).
func (t *Tx) GetUser(id string) (chat.User, error) {
	u, err := scanUser(t.row(qGetUserNoPresence, id))
	return u, t.s.notFound(err, fmt.Sprintf("user %q", id))
}

// InsertUser implements chat.Tx.
func (t *Tx) InsertUser(u chat.User) error {
	t.forgetReads()
	t.created = true
	_, err := t.exec(`INSERT INTO users (id, name, alias, email, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Alias, u.Email, string(u.Kind), micros(u.CreatedAt))
	return t.s.mapErr(err, fmt.Sprintf("user %q", u.ID))
}

// DeleteUser implements chat.Tx.
func (t *Tx) DeleteUser(id string) error {
	if err := t.roomDataChanged(); err != nil {
		return err
	}
	n, err := t.exec(`DELETE FROM users WHERE id = ?`, id)
	return t.mustAffect(n, err, fmt.Sprintf("user %q", id))
}

// UserRoomIDs implements chat.Tx.
func (t *Tx) UserRoomIDs(userID string) ([]string, error) {
	return t.strs(`SELECT room_id FROM members WHERE user_id = ? ORDER BY room_id`, userID)
}

func (t *Tx) strs(q string, args ...any) ([]string, error) {
	rows, err := t.query(q, args...)
	return collect(rows, err, func(r Row) (string, error) {
		var v string
		err := r.Scan(&v)
		return v, err
	})
}

// SetPresence implements chat.Tx.
func (t *Tx) SetPresence(userID string, present bool, expiresAt time.Time) error {
	p := 0
	if present {
		p = 1
	}
	_, err := t.exec(`INSERT INTO presence (user_id, present, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET present = excluded.present, expires_at = excluded.expires_at`,
		userID, p, micros(expiresAt))
	return t.s.mapErr(err, "presence")
}

// SetStreamPresence implements chat.Tx.
func (t *Tx) SetStreamPresence(nodeID, userID string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		_, err := t.exec(`DELETE FROM stream_presence WHERE user_id = ? AND node_id = ?`, userID, nodeID)
		return t.s.mapErr(err, "stream presence")
	}
	_, err := t.exec(`INSERT INTO stream_presence (user_id, node_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id, node_id) DO UPDATE SET expires_at = excluded.expires_at`, userID, nodeID, micros(expiresAt))
	return t.s.mapErr(err, "stream presence")
}

// InsertBlock implements chat.Tx.
func (t *Tx) InsertBlock(userID, targetID string, at time.Time) error {
	_, err := t.exec(`INSERT INTO blocks (user_id, target_id, created_at) VALUES (?, ?, ?)`, userID, targetID, micros(at))
	return t.s.mapErr(err, fmt.Sprintf("block of %q by %q", targetID, userID))
}

// DeleteBlock implements chat.Tx.
func (t *Tx) DeleteBlock(userID, targetID string) error {
	n, err := t.exec(`DELETE FROM blocks WHERE user_id = ? AND target_id = ?`, userID, targetID)
	return t.mustAffect(n, err, fmt.Sprintf("block of %q by %q", targetID, userID))
}

// GetRoom implements chat.Tx. With RoundTrips, the room's agent members come in the same
// statement, for RoomAgents.
func (t *Tx) GetRoom(id string) (chat.Room, error) {
	if !t.s.d.RoundTrips {
		r, err := scanRoom(t.row(qGetRoom, id))
		return r, t.s.notFound(err, fmt.Sprintf("room %q", id))
	}
	var agents string
	r, err := scanRoomWith(t.row(qGetRoomAgents, id), &agents)
	if err != nil {
		return r, t.s.notFound(err, fmt.Sprintf("room %q", id))
	}
	if t.agents == nil {
		t.agents = map[string][]string{}
	}
	t.agents[id] = splitAgents(agents)
	return r, nil
}

// roomsWithAgents reads rooms with their agent members' ids, comma-separated by id
// (splitAgents undoes it); a condition on id completes it. The agents are the room's
// members whose user is an agent, each user looked up by its key (as in qRoomAgents): a
// join lets a plan made for any room (PostgreSQL's generic one) scan every user.
const roomsWithAgents = `SELECT ` + roomCols + `, COALESCE((SELECT string_agg(m.user_id, ',' ORDER BY m.user_id) FROM members m
	WHERE m.room_id = rooms.id AND (SELECT u.kind FROM users u WHERE u.id = m.user_id) = 'agent'), '') FROM rooms WHERE `

// qGetRoomAgents reads one room with its agent members.
const qGetRoomAgents = roomsWithAgents + `id = ?`

// splitAgents turns roomsWithAgents' list into ids (never nil: a room without agents has
// an empty list).
func splitAgents(agents string) []string {
	if agents == "" {
		return []string{}
	}
	return strings.Split(agents, ",") // ids hold no comma
}

// InsertRoom implements chat.Tx.
func (t *Tx) InsertRoom(r chat.Room) error {
	t.created = true
	_, err := t.exec(`INSERT INTO rooms (id, name, creator_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Name, r.CreatorID, micros(r.CreatedAt), micros(r.UpdatedAt))
	return t.s.mapErr(err, fmt.Sprintf("room %q", r.ID))
}

// UpdateRoom implements chat.Tx.
func (t *Tx) UpdateRoom(r chat.Room) error {
	if err := t.roomDataChanged(); err != nil {
		return err
	}
	n, err := t.exec(`UPDATE rooms SET name = ?, updated_at = ? WHERE id = ?`, r.Name, micros(r.UpdatedAt), r.ID)
	return t.mustAffect(n, err, fmt.Sprintf("room %q", r.ID))
}

// DeleteRoom implements chat.Tx.
func (t *Tx) DeleteRoom(id string) error {
	if err := t.roomDataChanged(); err != nil {
		return err
	}
	t.roomDeleted = true
	if t.s.threads != nil {
		t.threads.room = true
	}
	n, err := t.exec(`DELETE FROM rooms WHERE id = ?`, id)
	return t.mustAffect(n, err, fmt.Sprintf("room %q", id))
}

// InsertMember implements chat.Tx.
func (t *Tx) InsertMember(roomID, userID string, at time.Time) error {
	if err := t.roomDataChanged(); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO members (room_id, user_id, joined_at) VALUES (?, ?, ?)`, roomID, userID, micros(at)); err != nil {
		return t.s.mapErr(err, fmt.Sprintf("membership of %q in room %q", userID, roomID))
	}
	_, err := t.exec(`UPDATE rooms SET member_count = member_count + 1 WHERE id = ?`, roomID)
	return t.s.mapErr(err, "member count")
}

// DeleteMember implements chat.Tx.
func (t *Tx) DeleteMember(roomID, userID string) error {
	if err := t.roomDataChanged(); err != nil {
		return err
	}
	n, err := t.exec(`DELETE FROM members WHERE room_id = ? AND user_id = ?`, roomID, userID)
	if err := t.mustAffect(n, err, fmt.Sprintf("membership of %q in room %q", userID, roomID)); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE rooms SET member_count = member_count - 1 WHERE id = ?`, roomID)
	return t.s.mapErr(err, "member count")
}

// IsMember implements chat.Tx.
func (t *Tx) IsMember(roomID, userID string) (bool, error) {
	var one int
	err := t.row(`SELECT 1 FROM members WHERE room_id = ? AND user_id = ?`, roomID, userID).Scan(&one)
	if t.noRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: is member: %w", err)
	}
	return true, nil
}

// MemberUsers implements chat.Tx.
func (t *Tx) MemberUsers(roomID string, now time.Time) ([]chat.User, error) {
	rows, err := t.query(qMemberUsers, micros(now), roomID)
	return collect(rows, err, scanUser)
}

// qMemberUsers reads a room's members as users, with their presence at ?1.
const qMemberUsers = `SELECT ` + userCols + ` FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?2 ORDER BY u.id`

// RoomAgents implements chat.Tx.
func (t *Tx) RoomAgents(roomID string) ([]string, error) {
	if a, ok := t.agents[roomID]; ok {
		return slices.Clone(a), nil
	}
	return t.strs(qRoomAgents, roomID)
}

// qRoomAgents reads a room's agent members: the room's members (by the members' key), each
// one's user by its key.
const qRoomAgents = `SELECT m.user_id FROM members m WHERE m.room_id = ? AND (SELECT u.kind FROM users u WHERE u.id = m.user_id) = 'agent' ORDER BY m.user_id`

// InsertMessage implements chat.Tx.
func (t *Tx) InsertMessage(m chat.Message) error {
	mentions, err := json.Marshal(m.Mentions)
	if err != nil {
		return fmt.Errorf("store: encode mentions: %w", err)
	}
	t.ahead.messageInserted(m)
	if t.s.threads != nil {
		t.threads.inserted(m)
	}
	return t.deferExecID(stmtLabel{what: "message", id: m.ID, kind: mergeMessage}, `INSERT INTO messages (id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, relay_hops)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.RoomID, m.ThreadID, m.Sender.Type, m.Sender.ID, m.Sender.Name, m.Sender.AvatarURL, m.Text, m.Format, m.HTML, string(mentions), micros(m.CreatedAt), m.RelayHops)
}

// GetMessage implements chat.Tx.
func (t *Tx) GetMessage(roomID, id string) (chat.Message, error) {
	if m, ok := t.ahead.message(roomID, id); ok {
		return m, nil
	}
	m, err := scanMessage(t.row(qGetMessage, roomID, id))
	return m, t.s.notFound(err, fmt.Sprintf("message %q", id))
}

// UpdateMessage implements chat.Tx.
func (t *Tx) UpdateMessage(m chat.Message) error {
	t.ahead.messageChanged(m.RoomID, m.ID)
	if t.s.threads != nil {
		t.threads.messageChanged(m.RoomID, m.ID)
	}
	mentions, err := json.Marshal(m.Mentions)
	if err != nil {
		return fmt.Errorf("store: encode mentions: %w", err)
	}
	var upd int64
	if m.UpdatedAt != nil {
		upd = micros(*m.UpdatedAt)
	}
	n, err := t.exec(`UPDATE messages SET text = ?, html = ?, mentions = ?, updated_at = ? WHERE room_id = ? AND id = ?`,
		m.Text, m.HTML, string(mentions), upd, m.RoomID, m.ID)
	return t.mustAffect(n, err, fmt.Sprintf("message %q", m.ID))
}

// DeleteMessage implements chat.Tx.
func (t *Tx) DeleteMessage(roomID, id string) error {
	t.ahead.messageChanged(roomID, id)
	if t.s.threads != nil {
		t.threads.messageChanged(roomID, id)
	}
	n, err := t.exec(`DELETE FROM messages WHERE room_id = ? AND id = ?`, roomID, id)
	return t.mustAffect(n, err, fmt.Sprintf("message %q", id))
}

// LatestMessageID implements chat.Tx.
func (t *Tx) LatestMessageID(roomID string) (string, error) {
	var id string
	err := t.row(`SELECT id FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1`, roomID).Scan(&id)
	if t.noRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: latest message: %w", err)
	}
	return id, nil
}

// SetReadState implements chat.Tx.
func (t *Tx) SetReadState(roomID, userID, messageID string, at time.Time) error {
	// The caller found the membership in this transaction: the rows changed are not
	// counted, so on PostgreSQL the update goes with the batch's next statements.
	return t.deferExec("read state", `UPDATE members SET last_read_message_id = ?, last_read_at = ? WHERE room_id = ? AND user_id = ?`,
		messageID, micros(at), roomID, userID)
}

// ThreadByKey implements chat.Tx.
func (t *Tx) ThreadByKey(roomID, key string) (string, error) {
	if id, ok := t.ahead.threadKey(roomID, key); ok {
		if id == "" {
			t.newKeyRead(newKey{false, memberKey{roomID, key}})
		}
		return id, nil
	}
	var id string
	err := t.row(`SELECT thread_id FROM thread_keys WHERE room_id = ? AND key = ?`, roomID, key).Scan(&id)
	if t.noRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: thread by key: %w", err)
	}
	return id, nil
}

// InsertThreadKey implements chat.Tx; an existing key is re-pointed.
func (t *Tx) InsertThreadKey(roomID, key, threadID string) error {
	t.ahead.setThreadKey(roomID, key, threadID)
	if t.s.threads != nil {
		t.threads.keySet(memberKey{roomID, key}, threadID)
	}
	if t.newKeyInserted(newKey{false, memberKey{roomID, key}}) {
		// Taken to be new when the batch began: inserted so that the insert fails if not.
		l := stmtLabel{what: "thread key", assumed: true}
		if t.s.d.InsertThreadKeys != "" {
			l.kind = mergeNewThreadKey
		}
		return t.deferExecID(l, `INSERT INTO thread_keys (room_id, key, thread_id) VALUES (?, ?, ?)`, roomID, key, threadID)
	}
	l := stmtLabel{what: "thread key"}
	if t.s.d.UpsertThreadKeys != "" {
		l.kind = mergeThreadKey
	}
	return t.deferExecID(l, `INSERT INTO thread_keys (room_id, key, thread_id) VALUES (?, ?, ?)
		ON CONFLICT (room_id, key) DO UPDATE SET thread_id = excluded.thread_id`, roomID, key, threadID)
}

// IdempotentMessage implements chat.Tx.
func (t *Tx) IdempotentMessage(scope, key string) (string, error) {
	if id, ok := t.ahead.idempotent(scope, key); ok {
		if id == "" {
			t.newKeyRead(newKey{true, memberKey{scope, key}})
		}
		return id, nil
	}
	var id string
	err := t.row(`SELECT message_id FROM idempotency WHERE scope = ? AND key = ?`, scope, key).Scan(&id)
	if t.noRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: idempotency: %w", err)
	}
	return id, nil
}

// InsertIdempotency implements chat.Tx.
func (t *Tx) InsertIdempotency(scope, key, messageID string, at time.Time) error {
	t.ahead.setIdempotent(scope, key, messageID)
	if t.newKeyInserted(newKey{true, memberKey{scope, key}}) {
		// Taken to be new when the batch began: inserted so that the insert fails if not.
		return t.deferExecID(stmtLabel{what: "idempotency key", assumed: true},
			`INSERT INTO idempotency (scope, key, message_id, created_at) VALUES (?, ?, ?, ?)`, scope, key, messageID, micros(at))
	}
	return t.deferExec("idempotency key", `INSERT INTO idempotency (scope, key, message_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at`,
		scope, key, messageID, micros(at))
}

// AppendEvent implements chat.Tx.
func (t *Tx) AppendEvent(e *chat.Event) error {
	if e.RoomID != "" && t.rooms != nil {
		t.rooms[e.RoomID] = struct{}{}
	}
	agents := "[]"
	if len(e.Agents) > 0 {
		b, err := json.Marshal(e.Agents)
		if err != nil {
			return fmt.Errorf("store: encode agents: %w", err)
		}
		agents = string(b)
	}
	if e.RoomID != "" && t.s.d.RoundTrips {
		// One statement numbers the event after the room's newest and inserts it, sent with
		// the request's next statement or when it ends; e.RoomSeq is set then.
		// A missing room fails the statement itself (qAppendRoomEvent), blamed in send.
		return t.deferScan(stmtLabel{what: "event", id: e.ID, room: e.RoomID, kind: mergeRoomEvent}, qAppendRoomEvent, func(r Row) error {
			return r.Scan(&e.RoomSeq)
		}, e.RoomID, e.ID, e.Type, micros(e.CreatedAt), string(e.Payload), agents)
	}
	if e.RoomID != "" {
		// The room's last number (from the writer's cache, or read), then a plain insert:
		// on the SQLite writer the read and the insert measured faster than
		// qAppendRoomEvent, whose insert from a read of the same table and RETURNING each
		// go through a temporary table.
		n, err := t.roomLastSeq(e.RoomID)
		if err != nil {
			return err
		}
		e.RoomSeq = n + 1
	}
	_, err := t.exec(`INSERT INTO events (id, type, room_id, room_seq, created_at, payload, agents) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.RoomID, e.RoomSeq, micros(e.CreatedAt), string(e.Payload), agents)
	if err != nil { // the label is formatted only for an error
		return t.s.mapErr(err, fmt.Sprintf("event %q", e.ID))
	}
	if e.RoomID != "" {
		t.noteSeq(e.RoomID, e.RoomSeq)
	}
	return nil
}

// roomMissing is the error of an event for a room that does not exist.
func roomMissing(id string) error { return chat.Errorf(chat.CodeNotFound, "room %q not found", id) }

// A room's events are numbered one past the room's newest event. Batches commit one at a
// time (SQLite's single writer; PostgreSQL's batch lock, cluster-wide), so no other
// transaction numbers the same room meanwhile. The number is read from events_room's last
// entry for the room, the page the insert then writes: numbering an event writes no page of
// its own.
const (
	// qRoomLastSeq reads a room's last number (no row when the room does not exist).
	qRoomLastSeq = `SELECT ` + roomLastSeq + ` FROM rooms WHERE id = ?`
	// qAppendRoomEvent inserts a room's event numbered after the room's newest, and returns
	// the number, in one statement. When the room does not exist the statement fails (its
	// room_id is NULL, which the column refuses), so that the database rolls the
	// transaction back: a statement that ran but returned no row would not stop the COMMIT
	// sent in the same round trip.
	qAppendRoomEvent = `INSERT INTO events (id, type, room_id, room_seq, created_at, payload, agents)
	SELECT CAST(?2 AS TEXT), CAST(?3 AS TEXT), rooms.id, ` + roomLastSeq + ` + 1, CAST(?4 AS BIGINT), CAST(?5 AS TEXT), CAST(?6 AS TEXT)
	FROM (SELECT CAST(?1 AS TEXT) AS id) AS wanted LEFT JOIN rooms ON rooms.id = wanted.id
	RETURNING room_seq`
)

// SetAdminTokenHash implements chat.Tx.
func (t *Tx) SetAdminTokenHash(hash string) error {
	_, err := t.exec(`INSERT INTO settings (key, value) VALUES ('admin_token_hash', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, hash)
	return t.s.mapErr(err, "admin token")
}

// qPruneKeys deletes the oldest idempotency keys created before ?1, at most ?2 of them,
// found through their creation-time index.
const qPruneKeys = `DELETE FROM idempotency WHERE (scope, key) IN
	(SELECT scope, key FROM idempotency WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)`

// Prune implements chat.Tx. On PostgreSQL the keys' statement is planned with sequential
// scans priced out (IndexPlans), as the delivery log's retention steps are.
func (t *Tx) Prune(keysBefore, now time.Time, limit int) (keys, leases int64, err error) {
	t.ahead = nil // the keys it deletes may be among those read ahead
	if limit <= 0 {
		return 0, 0, fmt.Errorf("store: prune idempotency keys: limit %d is not positive", limit)
	}
	if t.s.d.RoundTrips { // sent with the statement after it, as the settings after it are
		if err := t.deferExec("prune idempotency keys", IndexPlans); err != nil {
			return 0, 0, err
		}
	}
	keys, err = t.exec(qPruneKeys, micros(keysBefore), limit)
	if err != nil {
		return 0, 0, fmt.Errorf("store: prune idempotency keys: %w", err)
	}
	if t.s.d.RoundTrips {
		if err := t.deferExec("prune idempotency keys", DefaultPlans); err != nil {
			return 0, 0, err
		}
	}
	leases, err = t.exec(`DELETE FROM stream_presence WHERE expires_at < ?`, micros(now))
	if err != nil {
		return 0, 0, fmt.Errorf("store: prune stream presence: %w", err)
	}
	return keys, leases, nil
}
