package chat

import "context"

type roomHintKey struct{}

// WithRoom marks a write as a post to roomID, so that a store may read the rooms of a whole
// batch of posts in one statement. It is a hint only: the write reads its room itself, as
// always, and gets the same answer.
func WithRoom(ctx context.Context, roomID string) context.Context {
	return context.WithValue(ctx, roomHintKey{}, roomID)
}

// RoomOf returns the room a write was marked with by WithRoom, or "".
func RoomOf(ctx context.Context) string {
	id, _ := ctx.Value(roomHintKey{}).(string)
	return id
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
