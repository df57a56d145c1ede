package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

const (
	webhookCols = `id, room_id, name, avatar_url, token_hash, created_at`
	qGetWebhook = `SELECT ` + webhookCols + ` FROM webhooks WHERE id = ?`
	// qRevokeTokens remembers tokens of webhooks selected by the WHERE clause appended.
	qRevokeTokens = `INSERT INTO webhook_revoked_tokens (token_hash, webhook_id, room_id, reason, revoked_at)
		SELECT token_hash, id, room_id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM webhooks WHERE `
)

func scanWebhook(r Row) (chat.Webhook, error) {
	var w chat.Webhook
	var created int64
	if err := r.Scan(&w.ID, &w.RoomID, &w.Name, &w.AvatarURL, &w.TokenHash, &created); err != nil {
		return w, err
	}
	w.CreatedAt = fromMicros(created)
	return w, nil
}

// InsertWebhook implements chat.Tx. The no-op UPDATE of the room checks that it exists and
// takes its row lock, serializing concurrent inserts into one room across writers.
func (t *Tx) InsertWebhook(w chat.Webhook, maxPerRoom int) error {
	n, err := t.exec(`UPDATE rooms SET updated_at = updated_at WHERE id = ?`, w.RoomID)
	if err := t.mustAffect(n, err, fmt.Sprintf("room %q", w.RoomID)); err != nil {
		return err
	}
	var count int
	if err := t.row(`SELECT COUNT(*) FROM webhooks WHERE room_id = ?`, w.RoomID).Scan(&count); err != nil {
		return fmt.Errorf("store: count webhooks: %w", err)
	}
	if count >= maxPerRoom {
		return chat.Errorf(chat.CodeLimitExceeded, "room %q already has %d incoming webhooks, the most a room can hold", w.RoomID, maxPerRoom)
	}
	_, err = t.exec(`INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		w.ID, w.RoomID, w.Name, w.AvatarURL, w.TokenHash, micros(w.CreatedAt))
	return t.s.mapErr(err, fmt.Sprintf("webhook %q", w.ID))
}

// GetWebhook implements chat.Tx.
func (t *Tx) GetWebhook(id string) (chat.Webhook, error) {
	w, err := scanWebhook(t.row(qGetWebhook, id))
	return w, t.s.notFound(err, fmt.Sprintf("webhook %q", id))
}

// SetWebhookToken implements chat.Tx.
func (t *Tx) SetWebhookToken(id, tokenHash string, at time.Time) error {
	t.webhooks = true
	if _, err := t.exec(qRevokeTokens+`id = ? ON CONFLICT DO NOTHING`, chat.RevokedRegenerated, micros(at), id); err != nil {
		return t.s.mapErr(err, "revoked webhook token")
	}
	n, err := t.exec(`UPDATE webhooks SET token_hash = ? WHERE id = ?`, tokenHash, id)
	return t.mustAffect(n, err, fmt.Sprintf("webhook %q", id))
}

// DeleteWebhook implements chat.Tx.
func (t *Tx) DeleteWebhook(id string, at time.Time) error {
	t.webhooks = true
	if _, err := t.exec(qRevokeTokens+`id = ? ON CONFLICT DO NOTHING`, chat.RevokedDeleted, micros(at), id); err != nil {
		return t.s.mapErr(err, "revoked webhook token")
	}
	n, err := t.exec(`DELETE FROM webhooks WHERE id = ?`, id)
	return t.mustAffect(n, err, fmt.Sprintf("webhook %q", id))
}

// RevokeRoomWebhooks implements chat.Tx.
func (t *Tx) RevokeRoomWebhooks(roomID string, at time.Time) error {
	t.webhooks = true
	_, err := t.exec(qRevokeTokens+`room_id = ? ON CONFLICT DO NOTHING`, chat.RevokedRoomDeleted, micros(at), roomID)
	return t.s.mapErr(err, "revoked webhook token")
}

// GetWebhook implements chat.Reader.
func (s *Store) GetWebhook(ctx context.Context, id string) (chat.Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, qGetWebhook, id))
	return w, s.notFound(err, fmt.Sprintf("webhook %q", id))
}

// WebhookByTokenHash implements chat.Reader.
func (s *Store) WebhookByTokenHash(ctx context.Context, hash string) (chat.Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE token_hash = ?`, hash))
	return w, s.notFound(err, "webhook")
}

// ListWebhooks implements chat.Reader.
func (s *Store) ListWebhooks(ctx context.Context, roomID string) ([]chat.Webhook, error) {
	rows, err := s.query(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE room_id = ? ORDER BY id`, roomID)
	return collect(rows, err, scanWebhook)
}

// RevokedWebhookToken implements chat.Reader.
func (s *Store) RevokedWebhookToken(ctx context.Context, hash string) (chat.RevokedToken, error) {
	var rt chat.RevokedToken
	var at int64
	err := s.queryRow(ctx, `SELECT token_hash, webhook_id, room_id, reason, revoked_at FROM webhook_revoked_tokens WHERE token_hash = ?`, hash).
		Scan(&rt.TokenHash, &rt.WebhookID, &rt.RoomID, &rt.Reason, &at)
	if err != nil {
		return rt, s.notFound(err, "revoked token")
	}
	rt.RevokedAt = fromMicros(at)
	return rt, nil
}
