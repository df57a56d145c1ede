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
