package chat

import "context"

type postHintKey struct{}

// postHint is what WithPost records.
type postHint struct{ room, user string }

// WithPost marks a write as a post to roomID by the user userID ("" for a sender that is
// not a user), so that a store may read what the posts of a whole batch need (their rooms,
// their senders' membership) in one statement. It is a hint only: the write reads them
// itself, as always, and gets the same answer.
func WithPost(ctx context.Context, roomID, userID string) context.Context {
	return context.WithValue(ctx, postHintKey{}, postHint{roomID, userID})
}

// PostOf returns the room and user a write was marked with by WithPost, or "".
func PostOf(ctx context.Context) (roomID, userID string) {
	h, _ := ctx.Value(postHintKey{}).(postHint)
	return h.room, h.user
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
