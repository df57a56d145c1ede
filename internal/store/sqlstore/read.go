package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// presentExpr is true when the user is explicitly present (unexpired) or has an open stream
// lease; ?1 is now in microseconds.
const presentExpr = `(EXISTS (SELECT 1 FROM presence p WHERE p.user_id = u.id AND p.present = 1 AND (p.expires_at = 0 OR p.expires_at > ?1))
	OR EXISTS (SELECT 1 FROM stream_presence sp WHERE sp.user_id = u.id AND sp.expires_at > ?1))`

const userCols = `u.id, u.name, u.alias, u.email, u.kind, u.created_at, ` + presentExpr

const (
	qGetUser           = `SELECT ` + userCols + ` FROM users u WHERE u.id = ?2`
	qGetUserNoPresence = userNoPresenceCols + ` FROM users u WHERE u.id = ?`
	userNoPresenceCols = `SELECT u.id, u.name, u.alias, u.email, u.kind, u.created_at, FALSE`
	roomCols           = `id, name, creator_id, member_count, ` + roomLastSeq + `, created_at, updated_at`
	qGetRoom           = `SELECT ` + roomCols + ` FROM rooms WHERE id = ?`
	messageCols        = `id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, updated_at, relay_hops`
	qGetMessage        = `SELECT ` + messageCols + ` FROM messages WHERE room_id = ? AND id = ?`
	eventCols          = `pos, id, type, room_id, room_seq, created_at, payload, agents`
)

// roomLastSeq is, in a statement over rooms, the number of the room's newest event (0 when
// it has none). A room's events are numbered from it (qAppendRoomEvent), and retention
// keeps each room's newest event, so the newest event's number is the room's last one.
// It is a search of events_room's last entry for the room (the condition that room_id is
// not empty lets both engines use that partial index).
const roomLastSeq = `COALESCE((SELECT MAX(e.room_seq) FROM events e WHERE e.room_id = rooms.id AND e.room_id <> ''), 0)`

// notFound turns the driver's "no rows" into a not_found error naming what was looked for.
func (s *Store) notFound(err error, what string) error {
	if err == nil {
		return nil
	}
	if s.d.NoRows(err) {
		return chat.Errorf(chat.CodeNotFound, "%s not found", what)
	}
	if _, ok := err.(*chat.Error); ok {
		return err // a statement sent before this one failed (Tx.flush), already mapped
	}
	return fmt.Errorf("store: read %s: %w", what, err)
}

func scanUser(r Row) (chat.User, error) { return scanUserWith(r) }

// scanUserWith scans userCols, then extra.
func scanUserWith(r Row, extra ...any) (chat.User, error) {
	var u chat.User
	var kind string
	var created int64
	if err := r.Scan(append([]any{&u.ID, &u.Name, &u.Alias, &u.Email, &kind, &created, &u.Present}, extra...)...); err != nil {
		return u, err
	}
	u.Kind = chat.UserKind(kind)
	u.CreatedAt = fromMicros(created)
	return u, nil
}

func scanRoom(r Row) (chat.Room, error) { return scanRoomWith(r) }

// scanRoomWith scans roomCols, then extra.
func scanRoomWith(r Row, extra ...any) (chat.Room, error) {
	var rm chat.Room
	var created, updated int64
	if err := r.Scan(append([]any{&rm.ID, &rm.Name, &rm.CreatorID, &rm.MemberCount, &rm.LastEventID, &created, &updated}, extra...)...); err != nil {
		return rm, err
	}
	rm.CreatedAt, rm.UpdatedAt = fromMicros(created), fromMicros(updated)
	return rm, nil
}

func scanMessage(r Row) (chat.Message, error) {
	var m chat.Message
	var mentions string
	var created, updated int64
	if err := r.Scan(&m.ID, &m.RoomID, &m.ThreadID, &m.Sender.Type, &m.Sender.ID, &m.Sender.Name, &m.Sender.AvatarURL,
		&m.Text, &m.Format, &m.HTML, &mentions, &created, &updated, &m.RelayHops); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(mentions), &m.Mentions); err != nil {
		return m, fmt.Errorf("store: decode mentions: %w", err)
	}
	if m.Mentions == nil {
		m.Mentions = []chat.Mention{}
	}
	m.CreatedAt = fromMicros(created)
	if updated != 0 {
		t := fromMicros(updated)
		m.UpdatedAt = &t
	}
	return m, nil
}

func scanEvent(r Row) (chat.Event, int64, error) {
	var e chat.Event
	var pos, created int64
	var payload, agents string
	if err := r.Scan(&pos, &e.ID, &e.Type, &e.RoomID, &e.RoomSeq, &created, &payload, &agents); err != nil {
		return e, 0, fmt.Errorf("store: scan event: %w", err)
	}
	e.CreatedAt = fromMicros(created)
	e.Payload = json.RawMessage(payload)
	if agents != "[]" && agents != "" {
		if err := json.Unmarshal([]byte(agents), &e.Agents); err != nil {
			return e, 0, fmt.Errorf("store: decode agents: %w", err)
		}
	}
	return e, pos, nil
}

func collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rows: %w", err)
	}
	return out, nil
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) Row {
	return s.read.QueryRow(ctx, s.sql(q), args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (Rows, error) {
	return s.read.Query(ctx, s.sql(q), args...)
}

// GetUser implements chat.Reader.
func (s *Store) GetUser(ctx context.Context, id string, now time.Time) (chat.User, error) {
	u, err := scanUser(s.queryRow(ctx, qGetUser, micros(now), id))
	return u, s.notFound(err, fmt.Sprintf("user %q", id))
}

// ListUsers implements chat.Reader.
func (s *Store) ListUsers(ctx context.Context, after string, limit int, now time.Time) ([]chat.User, error) {
	rows, err := s.query(ctx, `SELECT `+userCols+` FROM users u WHERE u.id > ?2 ORDER BY u.id LIMIT ?3`, micros(now), after, limit)
	return collect(rows, err, scanUser)
}

// GetRoom implements chat.Reader.
func (s *Store) GetRoom(ctx context.Context, id string) (chat.Room, error) {
	r, err := scanRoom(s.queryRow(ctx, qGetRoom, id))
	return r, s.notFound(err, fmt.Sprintf("room %q", id))
}

// ListRooms implements chat.Reader.
func (s *Store) ListRooms(ctx context.Context, after string, limit int) ([]chat.Room, error) {
	rows, err := s.query(ctx, `SELECT `+roomCols+` FROM rooms WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	return collect(rows, err, scanRoom)
}

// ListMembers implements chat.Reader.
func (s *Store) ListMembers(ctx context.Context, roomID, after string, limit int, now time.Time) ([]chat.Member, error) {
	rows, err := s.query(ctx, `SELECT `+userCols+`, m.joined_at, m.last_read_message_id, m.last_read_at
		FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?2 AND u.id > ?3 ORDER BY u.id LIMIT ?4`,
		micros(now), roomID, after, limit)
	return collect(rows, err, func(r Row) (chat.Member, error) {
		var m chat.Member
		var kind string
		var created, joined, readAt int64
		if err := r.Scan(&m.ID, &m.Name, &m.Alias, &m.Email, &kind, &created, &m.Present, &joined, &m.LastReadMessageID, &readAt); err != nil {
			return m, err
		}
		m.Kind, m.CreatedAt, m.JoinedAt = chat.UserKind(kind), fromMicros(created), fromMicros(joined)
		if readAt != 0 {
			t := fromMicros(readAt)
			m.LastReadAt = &t
		}
		return m, nil
	})
}

// MemberUsers implements chat.Reader.
func (s *Store) MemberUsers(ctx context.Context, roomID string, now time.Time) ([]chat.User, error) {
	rows, err := s.query(ctx, qMemberUsers, micros(now), roomID)
	return collect(rows, err, scanUser)
}

// GetMessage implements chat.Reader.
func (s *Store) GetMessage(ctx context.Context, roomID, id string) (chat.Message, error) {
	m, err := scanMessage(s.queryRow(ctx, qGetMessage, roomID, id))
	return m, s.notFound(err, fmt.Sprintf("message %q", id))
}

// ListMessages implements chat.Reader. Without Desc, Before and no After returns the last
// Limit messages before Before, still in ascending order.
func (s *Store) ListMessages(ctx context.Context, q chat.MessageQuery) ([]chat.Message, error) {
	where, args := `room_id = ?`, []any{q.RoomID}
	if q.ThreadID != "" {
		// A thread is its first message (thread_id = id, found by id) and its replies
		// (the partial index messages_thread_replies); each row is then read by seq.
		where = `seq IN (SELECT seq FROM messages WHERE room_id = ? AND id = ? AND thread_id = id
			UNION ALL SELECT seq FROM messages WHERE room_id = ? AND thread_id = ? AND thread_id <> id)`
		args = []any{q.RoomID, q.ThreadID, q.RoomID, q.ThreadID}
	}
	if q.After != "" {
		where += ` AND seq > COALESCE((SELECT seq FROM messages WHERE room_id = ? AND id = ?), 9223372036854775807)`
		args = append(args, q.RoomID, q.After)
	}
	if q.Before != "" {
		where += ` AND seq < COALESCE((SELECT seq FROM messages WHERE room_id = ? AND id = ?), -1)`
		args = append(args, q.RoomID, q.Before)
	}
	if q.Viewer != "" {
		where += ` AND NOT (sender_type = 'user' AND sender_id IN (SELECT target_id FROM blocks WHERE user_id = ?))`
		args = append(args, q.Viewer)
	}
	order := `ASC`
	if q.Desc || (q.Before != "" && q.After == "") {
		order = `DESC`
	}
	rows, err := s.query(ctx, `SELECT `+messageCols+` FROM messages WHERE `+where+` ORDER BY seq `+order+` LIMIT ?`, append(args, q.Limit)...)
	out, err := collect(rows, err, scanMessage)
	if err == nil && order == `DESC` && !q.Desc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, err
}

// ListBlocks implements chat.Reader.
func (s *Store) ListBlocks(ctx context.Context, userID, after string, limit int) ([]chat.Block, error) {
	rows, err := s.query(ctx, `SELECT user_id, target_id, created_at FROM blocks WHERE user_id = ? AND target_id > ? ORDER BY target_id LIMIT ?`, userID, after, limit)
	return collect(rows, err, func(r Row) (chat.Block, error) {
		var b chat.Block
		var at int64
		err := r.Scan(&b.UserID, &b.TargetID, &at)
		b.CreatedAt = fromMicros(at)
		return b, err
	})
}

// BlockedAmong implements chat.Reader.
func (s *Store) BlockedAmong(ctx context.Context, userID string, targetIDs []string) ([]string, error) {
	if len(targetIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(targetIDs)+1)
	args = append(args, userID)
	for _, t := range targetIDs {
		args = append(args, t)
	}
	q := `SELECT target_id FROM blocks WHERE user_id = ? AND target_id IN (?` + strings.Repeat(", ?", len(targetIDs)-1) + `)`
	rows, err := s.query(ctx, q, args...)
	return collect(rows, err, func(r Row) (string, error) {
		var t string
		return t, r.Scan(&t)
	})
}

// qRoomEventsAfter reads a room's events after a number. events_room indexes only the
// events that have a room (a room_id not empty), and a plan made for any value of the room
// parameter (SQLite's always, PostgreSQL's generic ones) may use it only if the statement
// says so too.
const qRoomEventsAfter = `SELECT ` + eventCols + ` FROM events WHERE room_id = ? AND room_id <> '' AND room_seq > ? ORDER BY room_seq LIMIT ?`

// RoomEventsAfter implements chat.Reader.
func (s *Store) RoomEventsAfter(ctx context.Context, roomID string, seq int64, limit int) ([]chat.Event, error) {
	rows, err := s.query(ctx, qRoomEventsAfter, roomID, seq, limit)
	return collect(rows, err, func(r Row) (chat.Event, error) {
		e, _, err := scanEvent(r)
		return e, err
	})
}

// Events implements chat.Reader.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]chat.Event, int64, error) {
	rows, err := s.query(ctx, `SELECT `+eventCols+` FROM events WHERE pos > ? ORDER BY pos LIMIT ?`, after, limit)
	last := after
	out, err := collect(rows, err, func(r Row) (chat.Event, error) {
		e, pos, err := scanEvent(r)
		last = pos
		return e, err
	})
	return out, last, err
}

// qEventPosBefore is a bisection over the range of event positions, in one statement. A
// row holds the range [a, b] still to decide, found (the newest event seen so far created
// before ?1; 0: none) and v, the probe of the range: the first event at or after its
// middle, as its position if it was created before ?1 and as minus its position if not
// (NULL: none). A step keeps the half that holds the newest event created before ?1 and
// probes the new range; it ends when the range is empty (a > b): about log2 of the range
// steps, one primary-key read each. The first and last positions are each their own
// subquery (SQLite reads one end of the key for a lone MIN or MAX, but scans the table for
// both in one select).
var qEventPosBefore = func() string {
	probe := func(a, b string) string {
		return `(SELECT CASE WHEN created_at < CAST(?1 AS BIGINT) THEN pos ELSE -pos END FROM events
			WHERE pos >= (` + a + `) + ((` + b + `) - (` + a + `)) / 2 ORDER BY pos LIMIT 1)`
	}
	const hit = `s.v > 0 AND s.v <= s.b` // an event of [mid, b] created before ?1
	a := `CASE WHEN ` + hit + ` THEN s.v + 1 ELSE s.a END`
	b := `CASE WHEN ` + hit + ` THEN s.b ELSE s.a + (s.b - s.a) / 2 - 1 END`
	return `WITH RECURSIVE r (a, b) AS (
		SELECT COALESCE((SELECT MIN(pos) FROM events), 1), COALESCE((SELECT MAX(pos) FROM events), 0)),
	s (a, b, found, v) AS (
		SELECT r.a, r.b, CAST(0 AS BIGINT), ` + probe("r.a", "r.b") + ` FROM r
		UNION ALL
		SELECT ` + a + `, ` + b + `, CASE WHEN ` + hit + ` THEN s.v ELSE s.found END, ` + probe(a, b) + `
		FROM s WHERE s.a <= s.b)
	SELECT found FROM s WHERE a > b`
}()

// EventPosBefore implements chat.Reader: the position of the newest event created before
// t (0: none), found by bisection in one statement (qEventPosBefore), so a replay of the
// last hour neither reads the whole outbox first nor pays a round trip a probe.
func (s *Store) EventPosBefore(ctx context.Context, t time.Time) (int64, error) {
	var found int64
	if err := s.queryRow(ctx, qEventPosBefore, micros(t)).Scan(&found); err != nil {
		return 0, fmt.Errorf("store: event position: %w", err)
	}
	return found, nil
}

// AdminTokenHash implements chat.Reader.
func (s *Store) AdminTokenHash(ctx context.Context) (string, error) {
	var h string
	err := s.queryRow(ctx, `SELECT value FROM settings WHERE key = 'admin_token_hash'`).Scan(&h)
	if s.d.NoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: admin token: %w", err)
	}
	return h, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// mapErr turns constraint violations into domain errors.
func (s *Store) mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*chat.Error); ok {
		return err // a statement sent before this one failed (Tx.flush), already mapped
	}
	switch s.d.Classify(err) {
	case chat.CodeAlreadyExists:
		return &chat.Error{Code: chat.CodeAlreadyExists, Message: what + " already exists", Err: err}
	case chat.CodeNotFound:
		return &chat.Error{Code: chat.CodeNotFound, Message: what + " refers to something that does not exist", Err: err}
	case chat.CodeInvalidArgument:
		return &chat.Error{Code: chat.CodeInvalidArgument, Message: what + " has a value the database cannot store (a NUL character)", Err: err}
	case chat.CodeUnavailable:
		return &chat.Error{Code: chat.CodeUnavailable, Message: "the database connection was lost while writing " + what, Err: err}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
