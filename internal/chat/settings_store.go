package chat

import (
	"context"
	"time"
)

// WorkspaceSettings are the workspace-wide settings (GET/PATCH /api/v1/settings).
type WorkspaceSettings struct {
	// AlertsRoomID is the room chathooks posts endpoint failure alerts into ("": none).
	AlertsRoomID string
	UpdatedAt    time.Time
}

// Endpoint health states, as announced by alerts (see alerts.go).
const (
	HealthOK       = "ok"
	HealthFailing  = "failing"
	HealthDisabled = "disabled"
)

// SettingsTx holds the writes of workspace settings and endpoint health.
type SettingsTx interface {
	// WorkspaceSettings returns the settings (zero value when never set).
	WorkspaceSettings() (WorkspaceSettings, error)
	SetWorkspaceSettings(ws WorkspaceSettings) error
	// EndpointHealth returns the last health state announced for an endpoint ("" if none).
	EndpointHealth(endpointID string) (string, error)
	// SetEndpointHealth records the health state announced for an endpoint; a deleted
	// endpoint's state goes with it.
	SetEndpointHealth(endpointID, state string, at time.Time) error
}

// SettingsReader holds the reads of workspace settings and endpoint health.
type SettingsReader interface {
	WorkspaceSettings(ctx context.Context) (WorkspaceSettings, error)
	EndpointHealth(ctx context.Context, endpointID string) (string, error)
}
