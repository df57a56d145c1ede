package chat

import (
	"context"
	"time"
)

// Store is the storage interface. Reads run concurrently on a read pool; every change runs
// through Write, whose function is executed by the store's group-commit writer inside a
// transaction shared with other concurrent writes. Write returns only once the transaction
// is durable (or failed). If fn returns an error, only fn's own changes are rolled back
// and only this caller sees the error.
//
// Implementations: internal/store/sqlite (embedded) and internal/store/postgres. Both pass
// internal/store/storetest.
type Store interface {
	Reader
	Write(ctx context.Context, fn func(Tx) error) error
	// WriterRoundTrips reports whether a read inside a write costs its batch a round trip
	// to a database server (PostgreSQL, under the batch lock): the service then makes the
	// reads it can before the write, on the read pool. False when the writer reads its own
	// database file (SQLite), where a read in the writer costs less than one on the read
	// pool.
	WriterRoundTrips() bool
	Ping(ctx context.Context) error
	Close() error
}

// Reader holds the read-only queries. Queries that report presence take now.
type Reader interface {
	WebhookReader
	DeliveryReader
	PortalReader
	SettingsReader
	GetUser(ctx context.Context, id string, now time.Time) (User, error)
	ListUsers(ctx context.Context, after string, limit int, now time.Time) ([]User, error)
	GetRoom(ctx context.Context, id string) (Room, error)
	ListRooms(ctx context.Context, after string, limit int) ([]Room, error)
	ListMembers(ctx context.Context, roomID, after string, limit int, now time.Time) ([]Member, error)
	// MemberUsers returns every member of the room with their presence at now (none for a
	// room that does not exist).
	MemberUsers(ctx context.Context, roomID string, now time.Time) ([]User, error)
	GetMessage(ctx context.Context, roomID, id string) (Message, error)
	ListMessages(ctx context.Context, q MessageQuery) ([]Message, error)
	// ListBlocks returns the users userID blocks, by target id after after.
	ListBlocks(ctx context.Context, userID, after string, limit int) ([]Block, error)
	// BlockedAmong returns those of targetIDs that userID blocks.
	BlockedAmong(ctx context.Context, userID string, targetIDs []string) ([]string, error)
	// RoomEventsAfter returns the room's events with RoomSeq > seq, ascending.
	RoomEventsAfter(ctx context.Context, roomID string, seq int64, limit int) ([]Event, error)
	// Events returns outbox events with a global position > after, ascending (for tests and
	// replay tooling); the position is returned alongside.
	Events(ctx context.Context, after int64, limit int) ([]Event, int64, error)
	// EventPosBefore returns a position from which Events reaches every event created at
	// or after t: the position of an event created before t, found by bisection over the
	// positions (event times rise with positions), or 0. A clock that stepped back makes
	// it approximate: callers ask with a margin before the time they need.
	EventPosBefore(ctx context.Context, t time.Time) (int64, error)
	// AdminTokenHash returns the stored admin token hash, "" if none.
	AdminTokenHash(ctx context.Context) (string, error)
}

// Tx is what a write function may do. Errors are *Error with codes not_found /
// already_exists where the condition is a caller's mistake.
type Tx interface {
	WebhookTx
	DeliveryTx
	PortalTx
	SettingsTx
	GetUser(id string) (User, error)
	InsertUser(u User) error
	DeleteUser(id string) error
	UserRoomIDs(userID string) ([]string, error)
	SetPresence(userID string, present bool, expiresAt time.Time) error // zero expiresAt: no expiry
	SetStreamPresence(nodeID, userID string, expiresAt time.Time) error // zero expiresAt: remove
	InsertBlock(userID, targetID string, at time.Time) error
	DeleteBlock(userID, targetID string) error

	GetRoom(id string) (Room, error)
	InsertRoom(r Room) error
	UpdateRoom(r Room) error
	DeleteRoom(id string) error

	InsertMember(roomID, userID string, at time.Time) error
	DeleteMember(roomID, userID string) error
	IsMember(roomID, userID string) (bool, error)
	// UserInRoom returns a user (without presence) and whether they are a member of the
	// room, as a user's post or read marker needs them; not found if the user does not
	// exist. A store may cache the answer, exactly.
	UserInRoom(roomID, userID string) (User, bool, error)
	// MemberUsers returns every member of the room with their presence at now.
	MemberUsers(roomID string, now time.Time) ([]User, error)
	// RoomForPost returns a room and the ids of its members of kind agent, as a post
	// needs them. The room's LastEventID and UpdatedAt may be older than the room's (a
	// store may cache the rest, exactly); everything else is current.
	RoomForPost(id string) (Room, []string, error)
	// RoomAgents returns the ids of the room's members of kind agent.
	RoomAgents(roomID string) ([]string, error)

	InsertMessage(m Message) error
	GetMessage(roomID, id string) (Message, error)
	UpdateMessage(m Message) error
	DeleteMessage(roomID, id string) error
	LatestMessageID(roomID string) (string, error)
	// SetReadState records how far a member has read. The caller has found the user a
	// member in this transaction (UserInRoom), so a store need not check it again.
	SetReadState(roomID, userID, messageID string, at time.Time) error

	// ThreadByKey finds the thread a key names in a room ("" if none).
	ThreadByKey(roomID, key string) (string, error)
	InsertThreadKey(roomID, key, threadID string) error
	// Idempotency remembers the message created for a key within a scope.
	IdempotentMessage(scope, key string) (string, error)
	InsertIdempotency(scope, key, messageID string, at time.Time) error

	// AppendEvent writes e to the outbox, assigning e.RoomSeq for room events (at the
	// latest when the write function returns: a store may send the statement later).
	AppendEvent(e *Event) error

	SetAdminTokenHash(hash string) error

	// Prune deletes at most limit idempotency keys created before keysBefore (the oldest
	// first) and the stream-presence leases that expired before now; it returns how many
	// keys and how many leases went.
	Prune(keysBefore, now time.Time, limit int) (keys, leases int64, err error)

	// PruneDeliveries is one step of the delivery log's retention: of the (at most) limit
	// deliveries that follow position after in commit order, it deletes the finished ones
	// (succeeded, dead) created before before, with their attempts.
	PruneDeliveries(before time.Time, after int64, limit int) (PruneStep, error)
	// PruneEvents is one step of the outbox's retention: of the (at most) limit events that
	// follow position after, it deletes those created before before that no unfinished
	// delivery (pending, failed with a retry due) names. The newest event, and each room's
	// latest event, are kept.
	PruneEvents(before time.Time, after int64, limit int) (PruneStep, error)
}
