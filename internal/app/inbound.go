package app

import (
	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/inbound"
)

// inboundHandler serves the incoming-webhook dialect endpoints: Chime, Google
// Chat, Slack and Mattermost, sharing one per-room rate limiter on the service clock.
func (a *App) inboundHandler() *inbound.Handler {
	return inbound.New(inbound.Config{
		Service:      a.Service,
		Limiter:      a.roomLimiter(),
		Clock:        a.cfg.Clock,
		Logger:       a.log,
		ShuttingDown: a.shutting.Load,
	})
}

// apiInbound registers the incoming-webhook management operations under /api/v1.
func (a *App) apiInbound(humaAPI huma.API) {
	api.RegisterWebhooks(humaAPI, a.Service, a.log, a.webhookBaseURL)
}
