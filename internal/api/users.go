package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type createUserIn struct {
	Body struct {
		ID    string        `json:"id,omitempty" doc:"user id; generated when absent" maxLength:"128"`
		Name  string        `json:"name" doc:"display name" maxLength:"256"`
		Alias string        `json:"alias,omitempty" doc:"mention alias (@alias)" maxLength:"128"`
		Email string        `json:"email,omitempty" maxLength:"320"`
		Kind  chat.UserKind `json:"kind,omitempty" enum:"human,agent" doc:"human (default) or agent"`
	}
}

type userPath struct {
	ID string `path:"id" doc:"user id"`
}

type presenceIn struct {
	ID   string `path:"id"`
	Body struct {
		Present    bool `json:"present"`
		TTLSeconds int  `json:"ttl_seconds,omitempty" minimum:"0" doc:"presence expires after this many seconds (0: no expiry)"`
	}
}

type blockIn struct {
	ID   string `path:"id"`
	Body struct {
		TargetID string `json:"target_id"`
	}
}

type listBlocksIn struct {
	ID string `path:"id" doc:"the blocker's user id"`
	PageQuery
}

type unblockIn struct {
	ID       string `path:"id"`
	TargetID string `path:"target_id"`
}

func (h *Handlers) registerUsers(api huma.API) {
	huma.Register(api, Created(Op("create-user", http.MethodPost, "/users", "Create a user", "users")),
		func(ctx context.Context, in *createUserIn) (*out[chat.User], error) {
			u, err := h.svc.CreateUser(ctx, chat.CreateUser{ID: in.Body.ID, Name: in.Body.Name, Alias: in.Body.Alias, Email: in.Body.Email, Kind: in.Body.Kind})
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.User]{Body: u}, nil
		})
	huma.Register(api, Op("list-users", http.MethodGet, "/users", "List users", "users"),
		func(ctx context.Context, in *PageQuery) (*out[List[chat.User]], error) {
			us, err := h.svc.ListUsers(ctx, in.Cursor, in.Limit)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return page(us, in.Limit, func(u chat.User) string { return u.ID }), nil
		})
	huma.Register(api, Op("get-user", http.MethodGet, "/users/{id}", "Get a user", "users"),
		func(ctx context.Context, in *userPath) (*out[chat.User], error) {
			u, err := h.svc.GetUser(ctx, in.ID)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.User]{Body: u}, nil
		})
	huma.Register(api, NoContent(Op("delete-user", http.MethodDelete, "/users/{id}", "Delete a user (they leave every room)", "users")),
		func(ctx context.Context, in *userPath) (*struct{}, error) {
			if err := h.svc.DeleteUser(ctx, in.ID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, Op("set-presence", http.MethodPut, "/users/{id}/presence", "Set a user's presence", "users"),
		func(ctx context.Context, in *presenceIn) (*out[chat.User], error) {
			u, err := h.svc.SetPresence(ctx, in.ID, in.Body.Present, time.Duration(in.Body.TTLSeconds)*time.Second)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.User]{Body: u}, nil
		})
	block := NoContent(Op("block-user", http.MethodPost, "/users/{id}/blocks", "Block a user", "users"))
	block.Description = "The blocked user's messages are hidden from the blocker: from `GET /rooms/{id}/messages?user_id=<blocker>` and from the live stream opened with `?user_id=<blocker>`. Nothing changes for other users, and the blocked user is not told."
	huma.Register(api, Op("list-blocks", http.MethodGet, "/users/{id}/blocks", "List the users a user blocks", "users"),
		func(ctx context.Context, in *listBlocksIn) (*out[List[chat.Block]], error) {
			bs, err := h.svc.ListBlocks(ctx, in.ID, in.Cursor, in.Limit)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return page(bs, in.Limit, func(b chat.Block) string { return b.TargetID }), nil
		})
	huma.Register(api, block,
		func(ctx context.Context, in *blockIn) (*struct{}, error) {
			if err := h.svc.Block(ctx, in.ID, in.Body.TargetID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(api, NoContent(Op("unblock-user", http.MethodDelete, "/users/{id}/blocks/{target_id}", "Unblock a user", "users")),
		func(ctx context.Context, in *unblockIn) (*struct{}, error) {
			if err := h.svc.Unblock(ctx, in.ID, in.TargetID); err != nil {
				return nil, h.fail(ctx, err)
			}
			return nil, nil
		})
}
