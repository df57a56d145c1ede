package app

import (
	"crypto/rand"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/console"
	"github.com/chathooks/chathooks/internal/server"
)

// console builds the web console (once: the API's portal-link operation and the route
// table share it). Its session and portal-link keys are derived from the endpoint-secret
// key, so sessions and links survive restarts and work on every node; if that key could
// not be loaded, they are random per process.
func (a *App) console(adminHash string) *console.Console {
	if a.cons != nil {
		return a.cons
	}
	o := a.initDeliveries()
	var sess, link []byte
	if o.box != nil {
		sess, link = o.box.DeriveKey("console session"), o.box.DeriveKey("portal link")
	} else {
		sess, link = make([]byte, 32), make([]byte, 32)
		_, _ = rand.Read(sess)
		_, _ = rand.Read(link)
	}
	a.cons = console.New(console.Options{
		Log: a.log, Service: a.Service, Deliveries: a.deliveriesService(), Metrics: a.Metrics,
		AdminHash: adminHash, SessionKey: sess, LinkKey: link, BaseURL: a.URL, Clock: a.cfg.Clock,
	})
	return a.cons
}

// apiPortal registers the test-event and portal-link operations under /api/v1.
func (a *App) apiPortal(adminHash string) func(huma.API) {
	return func(humaAPI huma.API) {
		api.RegisterPortal(humaAPI, a.deliveriesService(), a.log, a.console(adminHash).LinkURL)
	}
}

// consoleRoutes adapts the console's routes to the server's route table.
func consoleRoutes(c *console.Console) func(api http.Handler) []server.Route {
	return func(api http.Handler) []server.Route {
		var rs []server.Route
		for _, rt := range c.Routes(api) {
			rs = append(rs, server.Route{Pattern: rt.Pattern, Handler: rt.Handler})
		}
		return rs
	}
}
