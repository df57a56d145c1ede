package chat

import "context"

type postHintKey struct{}

// PostHint names what a post (or a read marker) will read in its write, so that a store
// may read it for a whole batch of them at once (one statement a kind) instead of a
// statement a write.
type PostHint struct {
	Room string // the room posted to
	User string // the sender, if a user
	// ThreadKey: a thread key the post looks up; Message: a message it reads (the one a
	// post replies to, the one a read marker names).
	ThreadKey, Message string
	// IdemScope, IdemKey: the idempotency key it looks up.
	IdemScope, IdemKey string
}

// WithPost marks a write as the post h describes. It is a hint only: the write reads what
// it needs itself, as always, and gets the same answer.
func WithPost(ctx context.Context, h PostHint) context.Context {
	return context.WithValue(ctx, postHintKey{}, h)
}

// PostOf returns what a write was marked with by WithPost (the zero hint if none).
func PostOf(ctx context.Context) PostHint {
	h, _ := ctx.Value(postHintKey{}).(PostHint)
	return h
}

type unwaitedKey struct{}

// Unwaited marks a write whose latency nobody waits on (the delivery engine recording
// outcomes): a store may hold it a moment to commit it with others.
func Unwaited(ctx context.Context) context.Context {
	return context.WithValue(ctx, unwaitedKey{}, true)
}

// IsUnwaited reports whether a write was marked by Unwaited.
func IsUnwaited(ctx context.Context) bool {
	v, _ := ctx.Value(unwaitedKey{}).(bool)
	return v
}
