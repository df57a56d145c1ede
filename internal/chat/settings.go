package chat

import (
	"context"
	"time"
)

// SettingsView is the workspace settings as the API shows them.
type SettingsView struct {
	AlertsRoomID string     `json:"alerts_room_id" doc:"the room endpoint failure alerts are posted into; empty: none"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

// SettingsPatch changes the workspace settings; nil fields stay.
type SettingsPatch struct {
	AlertsRoomID *string // "" turns alerts off
}

func settingsView(ws WorkspaceSettings) SettingsView {
	v := SettingsView{AlertsRoomID: ws.AlertsRoomID}
	if !ws.UpdatedAt.IsZero() {
		t := ws.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

// Settings returns the workspace settings.
func (s *Service) Settings(ctx context.Context) (SettingsView, error) {
	ws, err := s.store.WorkspaceSettings(ctx)
	if err != nil {
		return SettingsView{}, err
	}
	return settingsView(ws), nil
}

// UpdateSettings applies a patch to the workspace settings. The alerts room must exist.
func (s *Service) UpdateSettings(ctx context.Context, p SettingsPatch) (SettingsView, error) {
	if p.AlertsRoomID != nil && *p.AlertsRoomID != "" {
		if err := validID("alerts_room_id", *p.AlertsRoomID); err != nil {
			return SettingsView{}, err
		}
	}
	var ws WorkspaceSettings
	err := s.store.Write(ctx, func(tx Tx) error {
		var err error
		if ws, err = tx.WorkspaceSettings(); err != nil {
			return err
		}
		if p.AlertsRoomID != nil {
			if id := *p.AlertsRoomID; id != "" {
				if _, err := tx.GetRoom(id); err != nil {
					if IsCode(err, CodeNotFound) {
						return Errorf(CodeInvalidArgument, "alerts_room_id: room %q not found", id)
					}
					return err
				}
			}
			ws.AlertsRoomID = *p.AlertsRoomID
		}
		ws.UpdatedAt = s.now()
		return tx.SetWorkspaceSettings(ws)
	})
	if err != nil {
		return SettingsView{}, err
	}
	return settingsView(ws), nil
}
