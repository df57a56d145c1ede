package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type createRoomIn struct {
	Body struct {
		ID        string   `json:"id,omitempty" maxLength:"128" doc:"room id; generated when absent"`
		Name      string   `json:"name" maxLength:"256"`
		CreatorID string   `json:"creator_id,omitempty" doc:"joins the room with the members"`
		MemberIDs []string `json:"member_ids,omitempty" maxItems:"100" doc:"users who join directly (group_channel:join)"`
	}
}

type roomPath struct {
	ID string `path:"id" doc:"room id"`
}

type renameRoomIn struct {
	ID   string `path:"id"`
	Body struct {
		Name string `json:"name" maxLength:"256"`
	}
}

type membersIn struct {
	ID string `path:"id"`
	PageQuery
}

type joinIn struct {
	ID   string `path:"id"`
	Body struct {
		UserID string `json:"user_id"`
	}
}

type leaveIn struct {
	ID     string `path:"id"`
	UserID string `path:"user_id"`
}

type inviteIn struct {
	ID   string `path:"id"`
	Body struct {
		InviterID string   `json:"inviter_id"`
		UserIDs   []string `json:"user_ids" minItems:"1" maxItems:"100"`
	}
}

type readIn struct {
	ID   string `path:"id"`
	Body struct {
		UserID    string `json:"user_id"`
		MessageID string `json:"message_id,omitempty" doc:"read up to this message (default: the latest)"`
	}
}

// ReadState is the answer to marking a room read.
type ReadState struct {
	RoomID    string `json:"room_id"`
	UserID    string `json:"user_id"`
	MessageID string `json:"message_id"`
	ReadAt    string `json:"read_at"`
}

func (h *Handlers) registerRooms(api huma.API) {
	huma.Register(api, Created(Op("create-room", http.MethodPost, "/rooms", "Create a room", "rooms")),
		func(ctx context.Context, in *createRoomIn) (*out[chat.Room], error) {
			r, err := h.svc.CreateRoom(ctx, chat.CreateRoom{ID: in.Body.ID, Name: in.Body.Name, CreatorID: in.Body.CreatorID, MemberIDs: in.Body.MemberIDs})
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Room]{Body: r}, nil
		})
	huma.Register(api, Op("list-rooms", http.MethodGet, "/rooms", "List rooms", "rooms"),
		func(ctx context.Context, in *PageQuery) (*out[List[chat.Room]], error) {
			rs, err := h.svc.ListRooms(ctx, in.Cursor, in.Limit)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return page(rs, in.Limit, func(r chat.Room) string { return r.ID }), nil
		})
	huma.Register(api, Op("get-room", http.MethodGet, "/rooms/{id}", "Get a room", "rooms"),
		func(ctx context.Context, in *roomPath) (*out[chat.Room], error) {
			r, err := h.svc.GetRoom(ctx, in.ID)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Room]{Body: r}, nil
		})
	huma.Register(api, Op("rename-room", http.MethodPatch, "/rooms/{id}", "Rename a room", "rooms"),
		func(ctx context.Context, in *renameRoomIn) (*out[chat.Room], error) {
			r, err := h.svc.RenameRoom(ctx, in.ID, in.Body.Name)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.Room]{Body: r}, nil
		})
	huma.Register(api, NoContent(Op("delete-room", http.MethodDelete, "/rooms/{id}", "Delete a room with its messages and webhooks", "rooms")),
		func(ctx context.Context, in *roomPath) (*struct{}, error) {
			if err := h.svc.DeleteRoom(ctx, in.ID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, Op("list-members", http.MethodGet, "/rooms/{id}/members", "List a room's members with presence and read state", "members"),
		func(ctx context.Context, in *membersIn) (*out[List[chat.Member]], error) {
			ms, err := h.svc.ListMembers(ctx, in.ID, in.Cursor, in.Limit)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return page(ms, in.Limit, func(m chat.Member) string { return m.ID }), nil
		})
	huma.Register(api, NoContent(Op("join-room", http.MethodPost, "/rooms/{id}/members", "Join a room", "members")),
		func(ctx context.Context, in *joinIn) (*struct{}, error) {
			if err := h.svc.Join(ctx, in.ID, in.Body.UserID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, NoContent(Op("leave-room", http.MethodDelete, "/rooms/{id}/members/{user_id}", "Leave a room", "members")),
		func(ctx context.Context, in *leaveIn) (*struct{}, error) {
			if err := h.svc.Leave(ctx, in.ID, in.UserID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, NoContent(Op("invite", http.MethodPost, "/rooms/{id}/invites", "Invite users (they join at once)", "members")),
		func(ctx context.Context, in *inviteIn) (*struct{}, error) {
			if err := h.svc.Invite(ctx, in.ID, in.Body.InviterID, in.Body.UserIDs); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, Op("mark-read", http.MethodPost, "/rooms/{id}/read", "Mark a room read up to a message", "members"),
		func(ctx context.Context, in *readIn) (*out[ReadState], error) {
			p, err := h.svc.MarkRead(ctx, in.ID, in.Body.UserID, in.Body.MessageID)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[ReadState]{Body: ReadState{RoomID: in.ID, UserID: p.User.ID, MessageID: p.MessageID, ReadAt: p.ReadAt.Format("2006-01-02T15:04:05.000000Z07:00")}}, nil
		})
}
