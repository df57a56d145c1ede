package chat

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/chathooks/chathooks/internal/ids"
)

// WebhookTokenBytes is the entropy of a webhook token (base64url, 43 characters).
const WebhookTokenBytes = 32

// MaxAvatarURLLen bounds a webhook's avatar URL (Mattermost's icon URL limit).
const MaxAvatarURLLen = 1024

// HashWebhookToken is how a webhook token is stored and looked up: hex SHA-256. Tokens are
// 256-bit random values, so an unsalted fast hash is enough.
func HashWebhookToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateWebhook input.
type CreateWebhook struct {
	RoomID, Name, AvatarURL string
}

// CreateWebhook adds an incoming webhook to a room and returns it with its token, which is
// shown only here and on regeneration.
func (s *Service) CreateWebhook(ctx context.Context, in CreateWebhook) (Webhook, string, error) {
	if err := validName("name", in.Name, true); err != nil {
		return Webhook{}, "", err
	}
	if err := validAvatarURL(in.AvatarURL); err != nil {
		return Webhook{}, "", err
	}
	tok, err := s.tokens.NewToken()
	if err != nil {
		return Webhook{}, "", fmt.Errorf("chat: webhook token: %w", err)
	}
	now := s.now()
	w := Webhook{
		ID: ids.New("wh", now), RoomID: in.RoomID, Name: strings.TrimSpace(in.Name),
		AvatarURL: strings.TrimSpace(in.AvatarURL), TokenHash: HashWebhookToken(tok), CreatedAt: now,
	}
	err = s.store.Write(ctx, func(tx Tx) error {
		if _, err := tx.GetRoom(in.RoomID); err != nil {
			return err
		}
		return tx.InsertWebhook(w, MaxWebhooksPerRoom)
	})
	if err != nil {
		return Webhook{}, "", err
	}
	return w, tok, nil
}

// ListWebhooks returns a room's webhooks (without tokens).
func (s *Service) ListWebhooks(ctx context.Context, roomID string) ([]Webhook, error) {
	if _, err := s.store.GetRoom(ctx, roomID); err != nil {
		return nil, err
	}
	return s.store.ListWebhooks(ctx, roomID)
}

// GetWebhook returns a webhook (without its token).
func (s *Service) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	return s.store.GetWebhook(ctx, id)
}

// RegenerateWebhook gives a webhook a new token; the old one is revoked at once (its URLs
// then answer "gone").
func (s *Service) RegenerateWebhook(ctx context.Context, id string) (Webhook, string, error) {
	tok, err := s.tokens.NewToken()
	if err != nil {
		return Webhook{}, "", fmt.Errorf("chat: webhook token: %w", err)
	}
	hash := HashWebhookToken(tok)
	var w Webhook
	err = s.store.Write(ctx, func(tx Tx) error {
		if err := tx.SetWebhookToken(id, hash, s.now()); err != nil {
			return err
		}
		var err error
		w, err = tx.GetWebhook(id)
		return err
	})
	s.forgetWebhooks(func(w Webhook) bool { return w.ID == id })
	if err != nil {
		return Webhook{}, "", err
	}
	return w, tok, nil
}

// DeleteWebhook deletes a webhook; its token is remembered as revoked.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	err := s.store.Write(ctx, func(tx Tx) error { return tx.DeleteWebhook(id, s.now()) })
	s.forgetWebhooks(func(w Webhook) bool { return w.ID == id })
	return err
}

// WebhooksChangedElsewhere says another node changed or revoked webhook tokens (or that
// such news may have been missed): every cached token lookup is dropped.
func (s *Service) WebhooksChangedElsewhere() {
	s.forgetWebhooks(func(Webhook) bool { return true })
}

// forgetWebhooks drops cached token lookups of the matching webhooks; called after every
// write that changes a webhook's token or existence (whether or not it committed).
func (s *Service) forgetWebhooks(match func(Webhook) bool) {
	if s.hooks != nil {
		s.hooks.invalidate(match)
	}
}

// AuthenticateWebhook returns the webhook a token opens. id is the webhook id the URL
// names, or "" when the URL carries only the token (Mattermost). Failures are *Error with
// CodeUnauthenticated wrapping ErrWebhookUnknown or ErrWebhookToken (never valid), or
// CodeGone wrapping ErrWebhookRevoked or ErrWebhookRoomDeleted.
func (s *Service) AuthenticateWebhook(ctx context.Context, id, token string) (Webhook, error) {
	sum := sha256.Sum256([]byte(token))
	var gen uint64
	if s.hooks != nil {
		if w, ok := s.hooks.get(sum, s.clock.Now()); ok && (id == "" || w.ID == id) {
			return w, nil
		}
		gen = s.hooks.generation()
	}
	hash := hex.EncodeToString(sum[:])
	var (
		w   Webhook
		err error
	)
	if id != "" {
		w, err = s.store.GetWebhook(ctx, id)
	} else {
		w, err = s.store.WebhookByTokenHash(ctx, hash)
	}
	switch {
	case err == nil:
		if subtle.ConstantTimeCompare([]byte(hash), []byte(w.TokenHash)) == 1 {
			if s.hooks != nil {
				s.hooks.put(sum, w, gen, s.clock.Now())
			}
			return w, nil
		}
	case !IsCode(err, CodeNotFound):
		return Webhook{}, unavailable(err)
	}
	known := err == nil
	rv, rerr := s.store.RevokedWebhookToken(ctx, hash)
	switch {
	case rerr == nil && (id == "" || rv.WebhookID == id):
		if rv.Reason == RevokedRoomDeleted {
			return Webhook{}, &Error{Code: CodeGone, Message: "the webhook's room was deleted", Err: ErrWebhookRoomDeleted}
		}
		return Webhook{}, &Error{Code: CodeGone, Message: "this webhook URL was regenerated or deleted", Err: ErrWebhookRevoked}
	case rerr != nil && !IsCode(rerr, CodeNotFound):
		return Webhook{}, unavailable(rerr)
	}
	if known {
		return Webhook{}, &Error{Code: CodeUnauthenticated, Message: "invalid webhook token", Err: ErrWebhookToken}
	}
	return Webhook{}, &Error{Code: CodeUnauthenticated, Message: "invalid webhook URL", Err: ErrWebhookUnknown}
}

// unavailable reports a failed read as the database being unavailable (a domain error
// other than not_found is kept as it is).
func unavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: CodeUnavailable, Message: "the database is unavailable", Err: err}
}

func validAvatarURL(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if len(s) > MaxAvatarURLLen {
		return Errorf(CodeInvalidArgument, "avatar_url is longer than %d bytes", MaxAvatarURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(CodeInvalidArgument, "avatar_url must be an absolute http or https URL")
	}
	return nil
}
