package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
)

type patchSettingsIn struct {
	Body struct {
		AlertsRoomID *string `json:"alerts_room_id,omitempty" maxLength:"128" doc:"the room endpoint failure alerts are posted into; \"\" turns them off"`
	}
}

func (h *Handlers) registerSettings(api huma.API) {
	const tag = "settings"
	huma.Register(api, Op("get-settings", http.MethodGet, "/settings", "Get the workspace settings", tag),
		func(ctx context.Context, _ *struct{}) (*out[chat.SettingsView], error) {
			v, err := h.svc.Settings(ctx)
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.SettingsView]{Body: v}, nil
		})
	huma.Register(api, Op("update-settings", http.MethodPatch, "/settings", "Change the workspace settings (absent fields stay)", tag),
		func(ctx context.Context, in *patchSettingsIn) (*out[chat.SettingsView], error) {
			v, err := h.svc.UpdateSettings(ctx, chat.SettingsPatch{AlertsRoomID: in.Body.AlertsRoomID})
			if err != nil {
				return nil, h.fail(ctx, err)
			}
			return &out[chat.SettingsView]{Body: v}, nil
		})
}
