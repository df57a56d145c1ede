package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Tx is the chat.Tx of the writer's current batch. It is used only on the writer goroutine.
type Tx struct{ s *Store }

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.s.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.s.wctx, args...)
}

func (t *Tx) row(q string, args ...any) *sql.Row {
	st, err := t.s.stmt(q)
	if err != nil {
		// Surface the prepare error through Scan.
		return t.s.conn.QueryRowContext(t.s.wctx, q, args...)
	}
	return st.QueryRowContext(t.s.wctx, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.s.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.s.wctx, args...)
}

// mustAffect returns a not_found error if res changed no row.
func mustAffect(res sql.Result, err error, what string) error {
	if err != nil {
		return mapErr(err, what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return chat.Errorf(chat.CodeNotFound, "%s not found", what)
	}
	return nil
}

// GetUser implements chat.Tx.
// Presence is not computed inside writes (it is reported as false).
func (t *Tx) GetUser(id string) (chat.User, error) {
	return scanUser(t.row(qGetUserNoPresence, id), id)
}

// InsertUser implements chat.Tx.
func (t *Tx) InsertUser(u chat.User) error {
	_, err := t.exec(`INSERT INTO users (id, name, alias, email, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Alias, u.Email, string(u.Kind), micros(u.CreatedAt))
	return mapErr(err, fmt.Sprintf("user %q", u.ID))
}

// DeleteUser implements chat.Tx.
func (t *Tx) DeleteUser(id string) error {
	res, err := t.exec(`DELETE FROM users WHERE id = ?`, id)
	return mustAffect(res, err, fmt.Sprintf("user %q", id))
}

// UserRoomIDs implements chat.Tx.
func (t *Tx) UserRoomIDs(userID string) ([]string, error) {
	return t.strings(`SELECT room_id FROM members WHERE user_id = ? ORDER BY room_id`, userID)
}

func (t *Tx) strings(q string, args ...any) ([]string, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: scan: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// SetPresence implements chat.Tx.
func (t *Tx) SetPresence(userID string, present bool, expiresAt time.Time) error {
	_, err := t.exec(`INSERT INTO presence (user_id, present, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET present = excluded.present, expires_at = excluded.expires_at`,
		userID, present, micros(expiresAt))
	return mapErr(err, "presence")
}

// SetStreamPresence implements chat.Tx.
func (t *Tx) SetStreamPresence(nodeID, userID string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		_, err := t.exec(`DELETE FROM stream_presence WHERE user_id = ? AND node_id = ?`, userID, nodeID)
		return mapErr(err, "stream presence")
	}
	_, err := t.exec(`INSERT INTO stream_presence (user_id, node_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id, node_id) DO UPDATE SET expires_at = excluded.expires_at`, userID, nodeID, micros(expiresAt))
	return mapErr(err, "stream presence")
}

// InsertBlock implements chat.Tx.
func (t *Tx) InsertBlock(userID, targetID string, at time.Time) error {
	_, err := t.exec(`INSERT INTO blocks (user_id, target_id, created_at) VALUES (?, ?, ?)`, userID, targetID, micros(at))
	return mapErr(err, fmt.Sprintf("block of %q by %q", targetID, userID))
}

// DeleteBlock implements chat.Tx.
func (t *Tx) DeleteBlock(userID, targetID string) error {
	res, err := t.exec(`DELETE FROM blocks WHERE user_id = ? AND target_id = ?`, userID, targetID)
	return mustAffect(res, err, fmt.Sprintf("block of %q by %q", targetID, userID))
}

// GetRoom implements chat.Tx.
func (t *Tx) GetRoom(id string) (chat.Room, error) { return scanRoom(t.row(qGetRoom, id), id) }

// InsertRoom implements chat.Tx.
func (t *Tx) InsertRoom(r chat.Room) error {
	_, err := t.exec(`INSERT INTO rooms (id, name, creator_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Name, r.CreatorID, micros(r.CreatedAt), micros(r.UpdatedAt))
	return mapErr(err, fmt.Sprintf("room %q", r.ID))
}

// UpdateRoom implements chat.Tx.
func (t *Tx) UpdateRoom(r chat.Room) error {
	res, err := t.exec(`UPDATE rooms SET name = ?, updated_at = ? WHERE id = ?`, r.Name, micros(r.UpdatedAt), r.ID)
	return mustAffect(res, err, fmt.Sprintf("room %q", r.ID))
}

// DeleteRoom implements chat.Tx.
func (t *Tx) DeleteRoom(id string) error {
	res, err := t.exec(`DELETE FROM rooms WHERE id = ?`, id)
	return mustAffect(res, err, fmt.Sprintf("room %q", id))
}

// InsertMember implements chat.Tx.
func (t *Tx) InsertMember(roomID, userID string, at time.Time) error {
	if _, err := t.exec(`INSERT INTO members (room_id, user_id, joined_at) VALUES (?, ?, ?)`, roomID, userID, micros(at)); err != nil {
		return mapErr(err, fmt.Sprintf("membership of %q in room %q", userID, roomID))
	}
	_, err := t.exec(`UPDATE rooms SET member_count = member_count + 1 WHERE id = ?`, roomID)
	return mapErr(err, "member count")
}

// DeleteMember implements chat.Tx.
func (t *Tx) DeleteMember(roomID, userID string) error {
	res, err := t.exec(`DELETE FROM members WHERE room_id = ? AND user_id = ?`, roomID, userID)
	if err := mustAffect(res, err, fmt.Sprintf("membership of %q in room %q", userID, roomID)); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE rooms SET member_count = member_count - 1 WHERE id = ?`, roomID)
	return mapErr(err, "member count")
}

// IsMember implements chat.Tx.
func (t *Tx) IsMember(roomID, userID string) (bool, error) {
	var one int
	err := t.row(`SELECT 1 FROM members WHERE room_id = ? AND user_id = ?`, roomID, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: is member: %w", err)
	}
	return true, nil
}

// MemberUsers implements chat.Tx.
func (t *Tx) MemberUsers(roomID string, now time.Time) ([]chat.User, error) {
	rows, err := t.query(`SELECT `+userCols+` FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?2 ORDER BY u.id`,
		micros(now), roomID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: member users: %w", err)
	}
	defer rows.Close()
	var out []chat.User
	for rows.Next() {
		u, err := scanUser(rows, "")
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// RoomAgents implements chat.Tx.
func (t *Tx) RoomAgents(roomID string) ([]string, error) {
	return t.strings(`SELECT u.id FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? AND u.kind = 'agent' ORDER BY u.id`, roomID)
}

// InsertMessage implements chat.Tx.
func (t *Tx) InsertMessage(m chat.Message) error {
	mentions, err := json.Marshal(m.Mentions)
	if err != nil {
		return fmt.Errorf("sqlite: encode mentions: %w", err)
	}
	_, err = t.exec(`INSERT INTO messages (id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.RoomID, m.ThreadID, m.Sender.Type, m.Sender.ID, m.Sender.Name, m.Sender.AvatarURL, m.Text, m.Format, m.HTML, string(mentions), micros(m.CreatedAt))
	return mapErr(err, fmt.Sprintf("message %q", m.ID))
}

// GetMessage implements chat.Tx.
func (t *Tx) GetMessage(roomID, id string) (chat.Message, error) {
	return scanMessage(t.row(qGetMessage, roomID, id), id)
}

// UpdateMessage implements chat.Tx.
func (t *Tx) UpdateMessage(m chat.Message) error {
	mentions, err := json.Marshal(m.Mentions)
	if err != nil {
		return fmt.Errorf("sqlite: encode mentions: %w", err)
	}
	var upd int64
	if m.UpdatedAt != nil {
		upd = micros(*m.UpdatedAt)
	}
	res, err := t.exec(`UPDATE messages SET text = ?, html = ?, mentions = ?, updated_at = ? WHERE room_id = ? AND id = ?`,
		m.Text, m.HTML, string(mentions), upd, m.RoomID, m.ID)
	return mustAffect(res, err, fmt.Sprintf("message %q", m.ID))
}

// DeleteMessage implements chat.Tx.
func (t *Tx) DeleteMessage(roomID, id string) error {
	res, err := t.exec(`DELETE FROM messages WHERE room_id = ? AND id = ?`, roomID, id)
	return mustAffect(res, err, fmt.Sprintf("message %q", id))
}

// LatestMessageID implements chat.Tx.
func (t *Tx) LatestMessageID(roomID string) (string, error) {
	var id string
	err := t.row(`SELECT id FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1`, roomID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: latest message: %w", err)
	}
	return id, nil
}

// SetReadState implements chat.Tx.
func (t *Tx) SetReadState(roomID, userID, messageID string, at time.Time) error {
	res, err := t.exec(`UPDATE members SET last_read_message_id = ?, last_read_at = ? WHERE room_id = ? AND user_id = ?`,
		messageID, micros(at), roomID, userID)
	return mustAffect(res, err, fmt.Sprintf("membership of %q in room %q", userID, roomID))
}

// ThreadByKey implements chat.Tx.
func (t *Tx) ThreadByKey(roomID, key string) (string, error) {
	var id string
	err := t.row(`SELECT thread_id FROM thread_keys WHERE room_id = ? AND key = ?`, roomID, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: thread by key: %w", err)
	}
	return id, nil
}

// InsertThreadKey implements chat.Tx; an existing key is re-pointed.
func (t *Tx) InsertThreadKey(roomID, key, threadID string) error {
	_, err := t.exec(`INSERT INTO thread_keys (room_id, key, thread_id) VALUES (?, ?, ?)
		ON CONFLICT (room_id, key) DO UPDATE SET thread_id = excluded.thread_id`, roomID, key, threadID)
	return mapErr(err, "thread key")
}

// IdempotentMessage implements chat.Tx.
func (t *Tx) IdempotentMessage(scope, key string) (string, error) {
	var id string
	err := t.row(`SELECT message_id FROM idempotency WHERE scope = ? AND key = ?`, scope, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: idempotency: %w", err)
	}
	return id, nil
}

// InsertIdempotency implements chat.Tx.
func (t *Tx) InsertIdempotency(scope, key, messageID string, at time.Time) error {
	_, err := t.exec(`INSERT INTO idempotency (scope, key, message_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at`,
		scope, key, messageID, micros(at))
	return mapErr(err, "idempotency key")
}

// AppendEvent implements chat.Tx.
func (t *Tx) AppendEvent(e *chat.Event) error {
	if e.RoomID != "" {
		if err := t.row(`UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq`, e.RoomID).Scan(&e.RoomSeq); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return chat.Errorf(chat.CodeNotFound, "room %q not found", e.RoomID)
			}
			return fmt.Errorf("sqlite: room seq: %w", err)
		}
	}
	agents := "[]"
	if len(e.Agents) > 0 {
		b, err := json.Marshal(e.Agents)
		if err != nil {
			return fmt.Errorf("sqlite: encode agents: %w", err)
		}
		agents = string(b)
	}
	_, err := t.exec(`INSERT INTO events (id, type, room_id, room_seq, created_at, payload, agents) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.RoomID, e.RoomSeq, micros(e.CreatedAt), string(e.Payload), agents)
	return mapErr(err, fmt.Sprintf("event %q", e.ID))
}

// SetAdminTokenHash implements chat.Tx.
func (t *Tx) SetAdminTokenHash(hash string) error {
	_, err := t.exec(`INSERT INTO settings (key, value) VALUES ('admin_token_hash', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, hash)
	return mapErr(err, "admin token")
}

// Prune implements chat.Tx.
func (t *Tx) Prune(keysBefore, now time.Time) (int64, error) {
	res, err := t.exec(`DELETE FROM idempotency WHERE created_at < ?`, micros(keysBefore))
	if err != nil {
		return 0, fmt.Errorf("store: prune idempotency keys: %w", err)
	}
	a, _ := res.RowsAffected()
	res, err = t.exec(`DELETE FROM stream_presence WHERE expires_at < ?`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("store: prune stream presence: %w", err)
	}
	b, _ := res.RowsAffected()
	return a + b, nil
}
