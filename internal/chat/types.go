// Package chat is the domain: users, rooms, members, messages, events and the use cases
// that change them. It imports only the standard library and small leaf packages; storage,
// HTTP and delivery are adapters around it.
package chat

import (
	"encoding/json"
	"time"
)

// UserKind tells humans from agents (bots); events concern the agents in their room.
type UserKind string

// User kinds.
const (
	KindHuman UserKind = "human"
	KindAgent UserKind = "agent"
)

// User is a chat participant.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Alias     string    `json:"alias,omitempty"`
	Email     string    `json:"email,omitempty"`
	Kind      UserKind  `json:"kind"`
	Present   bool      `json:"present"`
	CreatedAt time.Time `json:"created_at"`
}

// Room is a group channel.
type Room struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	CreatorID   string `json:"creator_id,omitempty"`
	MemberCount int    `json:"member_count"`
	// LastEventID is the sequence number of the room's latest event: the SSE id a client
	// passes as Last-Event-ID to stream from here.
	LastEventID int64     `json:"last_event_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Member is a user's membership of a room.
type Member struct {
	User
	JoinedAt          time.Time  `json:"joined_at"`
	LastReadMessageID string     `json:"last_read_message_id,omitempty"`
	LastReadAt        *time.Time `json:"last_read_at,omitempty"`
}

// Sender types. A system message is posted by chathooks itself (failure alerts).
const (
	SenderUser    = "user"
	SenderWebhook = "webhook"
	SenderSystem  = "system"
)

// Sender is who posted a message: a user or an incoming webhook.
type Sender struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url,omitempty"`
}

// DisplayName is how the console shows the sender ("name (Webhook)" for webhooks).
func (s Sender) DisplayName() string {
	switch s.Type {
	case SenderWebhook:
		return s.Name + " (Webhook)"
	case SenderSystem:
		return s.Name + " (System)"
	}
	return s.Name
}

// Mention is a resolved mention in a message.
type Mention struct {
	Type   string `json:"type"` // all | present | user
	UserID string `json:"user_id,omitempty"`
}

// Message is a chat message. ThreadID is the id of the thread's first message; a message
// that starts a thread has ThreadID == ID.
type Message struct {
	ID        string     `json:"id"`
	RoomID    string     `json:"room_id"`
	ThreadID  string     `json:"thread_id"`
	Sender    Sender     `json:"sender"`
	Text      string     `json:"text"`
	Format    string     `json:"format"`
	HTML      string     `json:"html"`
	Mentions  []Mention  `json:"mentions"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// RelayHops is how many chathooks relays the message crossed to get here (0: posted
	// here first).
	RelayHops int `json:"relay_hops,omitempty"`
}

// Event is one entry of the transactional outbox: written in the same transaction as the
// change it describes. ID is stable ("evt_..."); RoomSeq orders a room's events (0 for events
// without a room) and is the SSE event id.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	RoomID    string          `json:"room_id,omitempty"`
	RoomSeq   int64           `json:"room_seq,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	Payload   json.RawMessage `json:"payload"`
	// Agents are the agent users this event concerns (members of its room, or party to a
	// block); outgoing endpoint precedence is decided with them.
	Agents []string `json:"-"`
	// RelayHops is the relay hop count of the event's message (message events), used by
	// fan-out to stop relay loops; not stored with the event (the payload carries it).
	RelayHops int `json:"-"`
	// AboutEndpoint names the endpoint an alert or operational event is about: fan-out
	// never sends it there (not stored).
	AboutEndpoint string `json:"-"`
}

// MessageQuery selects messages of a room: ascending, or with Desc newest first. Without
// Desc, Before alone selects the last Limit messages before it (still ascending); with Desc
// the page is always the newest Limit messages in the range.
type MessageQuery struct {
	RoomID   string
	ThreadID string
	After    string // message id (exclusive)
	Before   string // message id (exclusive)
	Limit    int
	Desc     bool
	// Viewer, when set, hides the messages of users the viewer blocks.
	Viewer string
}

// Block is one user blocking another.
type Block struct {
	UserID    string    `json:"user_id" doc:"the blocker"`
	TargetID  string    `json:"target_id" doc:"the blocked user"`
	CreatedAt time.Time `json:"created_at"`
}
