package chat

import (
	"encoding/json"
	"strings"
	"time"
)

// Event types (Sendbird's category names).
const (
	EventRoomCreate    = "group_channel:create"
	EventRoomChanged   = "group_channel:changed"
	EventRoomRemove    = "group_channel:remove"
	EventRoomInvite    = "group_channel:invite"
	EventRoomJoin      = "group_channel:join"
	EventRoomLeave     = "group_channel:leave"
	EventMessageSend   = "group_channel:message_send"
	EventMessageUpdate = "group_channel:message_update"
	EventMessageDelete = "group_channel:message_delete"
	EventMessageRead   = "group_channel:message_read"
	EventUserBlock     = "user:block"
	EventUserUnblock   = "user:unblock"
)

// EventTypes lists every event type in catalog order.
var EventTypes = []string{
	EventRoomCreate, EventRoomChanged, EventRoomRemove, EventRoomInvite, EventRoomJoin,
	EventRoomLeave, EventMessageSend, EventMessageUpdate, EventMessageDelete, EventMessageRead,
	EventUserBlock, EventUserUnblock,
}

// RoomRef is the room as carried by events.
type RoomRef struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	MemberCount int    `json:"member_count"`
}

// UserRef is a user as carried by events.
type UserRef struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Kind  UserKind `json:"kind"`
	Alias string   `json:"alias,omitempty"`
}

// Event payloads, one per family of types. They are the "data" of outgoing events.
type (
	// RoomPayload: group_channel:create, group_channel:changed, group_channel:remove.
	RoomPayload struct {
		Room    RoomRef   `json:"room"`
		Members []UserRef `json:"members,omitempty"`
	}
	// MembershipPayload: group_channel:join, group_channel:leave, group_channel:invite.
	MembershipPayload struct {
		Room    RoomRef   `json:"room"`
		Users   []UserRef `json:"users"`
		Inviter *UserRef  `json:"inviter,omitempty"`
	}
	// MessagePayload: group_channel:message_send, group_channel:message_update.
	MessagePayload struct {
		Room    RoomRef `json:"room"`
		Message Message `json:"message"`
		// ThreadRoot names the message a reply answers (replies only).
		ThreadRoot *ThreadRoot `json:"thread_root,omitempty"`
	}
	// MessageDeletePayload: group_channel:message_delete.
	MessageDeletePayload struct {
		Room      RoomRef `json:"room"`
		MessageID string  `json:"message_id"`
		Message   Message `json:"message"`
	}
	// ReadPayload: group_channel:message_read.
	ReadPayload struct {
		Room      RoomRef   `json:"room"`
		User      UserRef   `json:"user"`
		MessageID string    `json:"message_id,omitempty"`
		ReadAt    time.Time `json:"read_at"`
	}
	// BlockPayload: user:block, user:unblock.
	BlockPayload struct {
		Blocker UserRef `json:"blocker"`
		Blocked UserRef `json:"blocked"`
	}
)

// ThreadRoot is the first message of a reply's thread, as events carry it.
type ThreadRoot struct {
	ID         string `json:"id"`
	SenderName string `json:"sender_name"`
	Excerpt    string `json:"excerpt" doc:"the start of the root's text"`
}

// threadRootExcerpt bounds ThreadRoot.Excerpt, in characters.
const threadRootExcerpt = 80

func threadRoot(m Message) *ThreadRoot {
	ex := strings.Join(strings.Fields(m.Text), " ")
	if r := []rune(ex); len(r) > threadRootExcerpt {
		ex = string(r[:threadRootExcerpt-1]) + "…"
	}
	return &ThreadRoot{ID: m.ID, SenderName: m.Sender.Name, Excerpt: ex}
}

func userRef(u User) UserRef { return UserRef{ID: u.ID, Name: u.Name, Kind: u.Kind, Alias: u.Alias} }

func roomRef(r Room) RoomRef { return RoomRef{ID: r.ID, Name: r.Name, MemberCount: r.MemberCount} }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Payload types are plain structs of strings, numbers and times.
		panic("chat: marshal event payload: " + err.Error())
	}
	return b
}
