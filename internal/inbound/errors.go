package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Kind classifies every way an incoming post can fail; each dialect maps a Kind to its
// own status code and body.
type Kind int

// Failure kinds.
const (
	KindInternal      Kind = iota // unexpected: 500
	KindInvalid                   // malformed payload
	KindEmpty                     // nothing to post
	KindTooLarge                  // over the dialect's size limit
	KindUnknownHook               // no such webhook (never valid)
	KindBadToken                  // the webhook exists, the token is not its token (never valid)
	KindRevoked                   // regenerated or deleted webhook
	KindRoomGone                  // the webhook's room is gone (or the URL names another room)
	KindNotFound                  // something the message refers to is missing (a thread)
	KindRateLimited               // over the room's rate
	KindUnavailable               // database unavailable, shutting down, timed out
	KindTooManyAttach             // Slack: over 100 attachments
)

// Error is a failure of an incoming post: a kind, a message safe to show the sender, and
// for KindRateLimited how long to wait.
type Error struct {
	Kind       Kind
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// classify turns any error (parse, authentication, service) into an *Error.
func classify(err error) *Error {
	var ie *Error
	if errors.As(err, &ie) {
		return ie
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Kind: KindUnavailable, Message: "the server could not take the message in time"}
	}
	msg := chat.ErrorMessage(err)
	switch chat.ErrorCode(err) {
	case chat.CodeUnauthenticated, chat.CodePermissionDenied:
		if errors.Is(err, chat.ErrWebhookUnknown) {
			return &Error{Kind: KindUnknownHook, Message: msg}
		}
		return &Error{Kind: KindBadToken, Message: msg}
	case chat.CodeGone:
		if errors.Is(err, chat.ErrWebhookRoomDeleted) {
			return &Error{Kind: KindRoomGone, Message: msg}
		}
		return &Error{Kind: KindRevoked, Message: msg}
	case chat.CodeNotFound:
		return &Error{Kind: KindNotFound, Message: msg}
	case chat.CodeInvalidArgument:
		return &Error{Kind: KindInvalid, Message: msg}
	case chat.CodeTooLarge:
		return &Error{Kind: KindTooLarge, Message: msg}
	case chat.CodeRateLimited:
		var ce *chat.Error
		errors.As(err, &ce)
		return &Error{Kind: KindRateLimited, Message: msg, RetryAfter: ce.RetryAfter}
	case chat.CodeUnavailable:
		return &Error{Kind: KindUnavailable, Message: msg}
	}
	return &Error{Kind: KindInternal, Message: "internal error"}
}

// retryAfterSeconds rounds a wait up to whole seconds (at least 1), as Retry-After wants.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
