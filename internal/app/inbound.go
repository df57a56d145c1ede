package app

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routeInbound mounts the incoming-webhook dialect endpoints (issue 3).
func (a *App) routeInbound(mux *http.ServeMux) {}

// apiInbound registers the incoming-webhook management operations under /api/v1 (issue 3).
func (a *App) apiInbound(api huma.API) {}
