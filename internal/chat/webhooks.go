package chat

import (
	"context"
	"errors"
	"time"
)

// MaxWebhooksPerRoom is how many incoming webhooks a room holds (Chime's limit).
const MaxWebhooksPerRoom = 10

// Reasons a webhook token was revoked.
const (
	RevokedRegenerated = "regenerated"
	RevokedDeleted     = "deleted"
	RevokedRoomDeleted = "room_deleted"
)

// Webhook is an incoming webhook: a named sender bound to one room. Its token is never
// stored; only TokenHash (hex SHA-256) is.
type Webhook struct {
	ID        string    `json:"id"`
	RoomID    string    `json:"room_id"`
	Name      string    `json:"name"`
	AvatarURL string    `json:"avatar_url"`
	TokenHash string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// Sender is how the webhook's messages are attributed.
func (w Webhook) Sender() Sender {
	return Sender{Type: SenderWebhook, ID: w.ID, Name: w.Name, AvatarURL: w.AvatarURL}
}

// RevokedToken remembers a token that was valid once, so that using it again answers
// "gone" rather than "never valid".
type RevokedToken struct {
	TokenHash string
	WebhookID string
	RoomID    string
	Reason    string // RevokedRegenerated | RevokedDeleted | RevokedRoomDeleted
	RevokedAt time.Time
}

// WebhookTx holds the incoming-webhook writes.
type WebhookTx interface {
	// InsertWebhook adds w to its room: not_found if the room does not exist,
	// limit_exceeded if the room already holds maxPerRoom webhooks. Concurrent inserts into
	// one room are serialized, so the limit holds with several writers.
	InsertWebhook(w Webhook, maxPerRoom int) error
	GetWebhook(id string) (Webhook, error)
	// SetWebhookToken replaces the webhook's token hash, remembering the old one as revoked
	// (RevokedRegenerated).
	SetWebhookToken(id, tokenHash string, at time.Time) error
	// DeleteWebhook deletes the webhook, remembering its token as revoked (RevokedDeleted).
	DeleteWebhook(id string, at time.Time) error
	// RevokeRoomWebhooks remembers the tokens of every webhook of the room as revoked
	// (RevokedRoomDeleted); called before the room is deleted (which deletes its webhooks).
	RevokeRoomWebhooks(roomID string, at time.Time) error
}

// WebhookReader holds the incoming-webhook reads.
type WebhookReader interface {
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// WebhookByTokenHash finds the webhook whose current token hashes to hash.
	WebhookByTokenHash(ctx context.Context, hash string) (Webhook, error)
	// ListWebhooks returns the room's webhooks ordered by id.
	ListWebhooks(ctx context.Context, roomID string) ([]Webhook, error)
	// RevokedWebhookToken returns the revocation of a token hash (not_found if none).
	RevokedWebhookToken(ctx context.Context, hash string) (RevokedToken, error)
}

// Sentinel causes of webhook authentication failures; test with errors.Is. The *Error
// around them carries CodeUnauthenticated (never valid) or CodeGone (revoked).
var (
	// ErrWebhookUnknown: no webhook has this id (or token), and the token was never issued.
	ErrWebhookUnknown = errors.New("unknown webhook")
	// ErrWebhookToken: the webhook exists but the token is not (and never was) its token.
	ErrWebhookToken = errors.New("wrong webhook token")
	// ErrWebhookRevoked: the token was the webhook's before it was regenerated or deleted.
	ErrWebhookRevoked = errors.New("webhook token revoked")
	// ErrWebhookRoomDeleted: the webhook's room was deleted (with its webhooks).
	ErrWebhookRoomDeleted = errors.New("webhook room deleted")
)
