package app

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routeOutbound mounts non-/api/v1 routes of outgoing webhooks, e.g. the Sendbird settings
// API (issue 4).
func (a *App) routeOutbound(mux *http.ServeMux) {}

// apiOutbound registers the endpoint and delivery operations under /api/v1 (issue 4).
func (a *App) apiOutbound(api huma.API) {}

// startOutbound starts the delivery engine (issue 4).
func (a *App) startOutbound() error { return nil }

// stopOutbound stops the delivery engine, finishing in-flight deliveries within ctx (issue 4).
func (a *App) stopOutbound(ctx context.Context) error { return nil }
