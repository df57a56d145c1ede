package delivery

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
)

// Sendbird payload shapes (wire-formats.md B5). Timestamps are Unix milliseconds.
type (
	sbUser struct {
		UserID     string         `json:"user_id"`
		Nickname   string         `json:"nickname"`
		ProfileURL string         `json:"profile_url"`
		Metadata   map[string]any `json:"metadata"`
	}
	sbMember struct {
		sbUser
		IsActive                bool   `json:"is_active"`
		IsOnline                bool   `json:"is_online"`
		IsHidden                int    `json:"is_hidden"`
		State                   string `json:"state"`
		IsBlockingSender        bool   `json:"is_blocking_sender"`
		IsBlockedBySender       bool   `json:"is_blocked_by_sender"`
		UnreadMessageCount      int    `json:"unread_message_count"`
		TotalUnreadMessageCount int    `json:"total_unread_message_count"`
		ChannelUnreadMessageCnt int    `json:"channel_unread_message_count"`
		ChannelMentionCount     int    `json:"channel_mention_count"`
		PushEnabled             bool   `json:"push_enabled"`
		PushTriggerOption       string `json:"push_trigger_option"`
		DoNotDisturb            bool   `json:"do_not_disturb"`
	}
	sbChannel struct {
		Name           string `json:"name"`
		ChannelURL     string `json:"channel_url"`
		CustomType     string `json:"custom_type"`
		IsDistinct     bool   `json:"is_distinct"`
		IsPublic       bool   `json:"is_public"`
		IsSuper        bool   `json:"is_super"`
		IsEphemeral    bool   `json:"is_ephemeral"`
		IsDiscoverable bool   `json:"is_discoverable"`
		Data           string `json:"data"`
		MemberCount    int    `json:"member_count"`
	}
	sbMessage struct {
		MessageID    string         `json:"message_id"`
		CustomType   string         `json:"custom_type"`
		Message      string         `json:"message"`
		Translations map[string]any `json:"translations"`
		CreatedAt    int64          `json:"created_at"`
		UpdatedAt    int64          `json:"updated_at,omitempty"`
		Data         string         `json:"data"`
	}
)

func sbUserOf(u chat.UserRef) sbUser {
	return sbUser{UserID: u.ID, Nickname: u.Name, Metadata: map[string]any{}}
}

func sbChannelOf(r chat.RoomRef) sbChannel {
	return sbChannel{Name: r.Name, ChannelURL: r.ID, MemberCount: r.MemberCount}
}

func sbMembers(ms []chat.Member) []sbMember {
	out := make([]sbMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, sbMember{
			sbUser:   sbUser{UserID: m.ID, Nickname: m.Name, Metadata: map[string]any{}},
			IsActive: true, IsOnline: m.Present, State: "joined", PushTriggerOption: "default",
		})
	}
	return out
}

func sbUsers(us []chat.UserRef) []sbUser {
	out := make([]sbUser, 0, len(us))
	for _, u := range us {
		out = append(out, sbUserOf(u))
	}
	return out
}

// sendbirdBody renders an event as Sendbird's payload for its category.
func sendbirdBody(ev *chat.Event, members []chat.Member, includeMembers bool, appID string) ([]byte, error) {
	m := map[string]any{"category": ev.Type, "app_id": appID}
	ms := ev.CreatedAt.UnixMilli()
	decode := func(v any) error {
		if err := json.Unmarshal(ev.Payload, v); err != nil {
			return fmt.Errorf("delivery: decode %s payload: %w", ev.Type, err)
		}
		return nil
	}
	switch ev.Type {
	case chat.EventRoomCreate, chat.EventRoomChanged, chat.EventRoomRemove:
		var p chat.RoomPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		m["channel"] = sbChannelOf(p.Room)
		switch ev.Type {
		case chat.EventRoomCreate:
			m["created_at"] = ms
			m["members"] = sbUsers(p.Members)
		case chat.EventRoomChanged:
			m["changes"] = []any{}
		case chat.EventRoomRemove:
			m["removed_at"] = ms
		}
	case chat.EventRoomInvite, chat.EventRoomJoin, chat.EventRoomLeave:
		var p chat.MembershipPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		m["channel"] = sbChannelOf(p.Room)
		switch ev.Type {
		case chat.EventRoomInvite:
			m["invitees"] = sbUsers(p.Users)
			m["invited_at"] = ms
			if p.Inviter != nil {
				m["inviter"] = sbUserOf(*p.Inviter)
			}
		case chat.EventRoomJoin:
			m["users"] = sbUsers(p.Users)
			m["joined_at"] = ms
		case chat.EventRoomLeave:
			m["users"] = sbUsers(p.Users)
			m["left_at"] = ms
		}
	case chat.EventMessageSend, chat.EventMessageUpdate:
		var p chat.MessagePayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		msg := p.Message
		m["channel"] = sbChannelOf(p.Room)
		m["sender"] = sbUser{UserID: msg.Sender.ID, Nickname: msg.Sender.DisplayName(), ProfileURL: msg.Sender.AvatarURL, Metadata: map[string]any{}}
		m["silent"] = false
		m["custom_type"] = ""
		m["type"] = "MESG"
		m["sdk"] = "API"
		mentionType, mentioned := "users", []sbUser{}
		for _, mn := range msg.Mentions {
			if mn.Type == "all" || mn.Type == "present" {
				mentionType = "channel"
			} else if mn.UserID != "" {
				mentioned = append(mentioned, sbUser{UserID: mn.UserID, Metadata: map[string]any{}})
			}
		}
		m["mention_type"] = mentionType
		m["mentioned_users"] = mentioned
		pl := sbMessage{MessageID: msg.ID, Message: msg.Text, Translations: map[string]any{}, CreatedAt: msg.CreatedAt.UnixMilli()}
		if msg.UpdatedAt != nil {
			pl.UpdatedAt = msg.UpdatedAt.UnixMilli()
		}
		m["payload"] = pl
		if msg.ThreadID != "" && msg.ThreadID != msg.ID {
			m["parent_message_id"] = msg.ThreadID
		}
	case chat.EventMessageDelete:
		var p chat.MessageDeletePayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		m["channel"] = sbChannelOf(p.Room)
		m["sender"] = sbUser{UserID: p.Message.Sender.ID, Nickname: p.Message.Sender.DisplayName(), Metadata: map[string]any{}}
		m["payload"] = map[string]any{"message_id": p.MessageID, "deleted_at": ms}
	case chat.EventMessageRead:
		var p chat.ReadPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		m["channel"] = sbChannelOf(p.Room)
		m["read_updates"] = []map[string]any{{
			"user_id": p.User.ID, "read_ts": p.ReadAt.UnixMilli(), "message_id": p.MessageID,
			"channel_unread_message_count": 0, "total_unread_message_count": 0,
		}}
	case chat.EventUserBlock, chat.EventUserUnblock:
		var p chat.BlockPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if ev.Type == chat.EventUserBlock {
			m["blocker"], m["blockee"] = sbUserOf(p.Blocker), sbUserOf(p.Blocked)
		} else {
			m["unblocker"], m["unblockee"] = sbUserOf(p.Blocker), sbUserOf(p.Blocked)
		}
	default:
		m["payload"] = ev.Payload
	}
	if includeMembers && strings.HasPrefix(ev.Type, "group_channel:") {
		m["members"] = sbMembers(members)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("delivery: encode sendbird body: %w", err)
	}
	return b, nil
}
