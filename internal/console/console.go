// Package console serves the web console (rooms, incoming webhooks, endpoints, deliveries,
// a live dashboard) and the endpoint owners' portal. Both are static pages and vanilla JS
// modules embedded in the binary. The console signs in with the admin token and then holds
// a signed session cookie; its pages call the API through an authenticated proxy under
// /console/api/v1 that checks the cookie and a CSRF token. The portal is reached with a
// signed, expiring, revocable link and sees only its endpoints through /portal/api.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/metrics"
)

//go:embed static
var staticFS embed.FS

//go:embed templates/*.html
var templateFS embed.FS

// DefaultSessionTTL is how long a console sign-in lasts.
const DefaultSessionTTL = 12 * time.Hour

// Options wires a Console.
type Options struct {
	Log        *slog.Logger
	Service    *chat.Service
	Deliveries *chat.Deliveries // nil: outgoing webhooks are unavailable (the portal answers 503)
	Metrics    *metrics.Metrics
	// AdminHash is the hex SHA-256 of the admin token; sessions are bound to it, so a new
	// admin token signs every console session out.
	AdminHash string
	// SessionKey signs session cookies and CSRF tokens; LinkKey signs portal links. Both
	// are derived from the server's secret key, so they survive restarts and are shared
	// by every node.
	SessionKey []byte
	LinkKey    []byte
	// BaseURL is the public base URL (portal links are built on it); when it is https,
	// session cookies are Secure even if TLS ends at a proxy in front.
	BaseURL    func() string
	Clock      clock.Clock
	SessionTTL time.Duration
}

// Console serves the console and the portal.
type Console struct {
	o       Options
	static  http.Handler
	signin  *template.Template
	app     *template.Template
	portal  *template.Template
	invalid *template.Template

	healthCache healthCache // the dashboard's endpoint-health reading (stats.go)
}

// New returns a Console.
func New(o Options) *Console {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("console: embedded static files: " + err.Error()) // the embed directive guarantees it
	}
	parse := func(name string) *template.Template {
		return template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name))
	}
	return &Console{
		o:       o,
		static:  http.StripPrefix("/assets/", http.FileServerFS(sub)),
		signin:  parse("signin.html"),
		app:     parse("app.html"),
		portal:  parse("portal.html"),
		invalid: parse("invalid.html"),
	}
}

// Routes are the console's and the portal's routes, for the server's route table. api is
// the /api/v1 handler without the bearer check: the proxy authenticates with the session
// instead.
func (c *Console) Routes(api http.Handler) []Route {
	page := c.guard(c.page)
	var rs []Route
	for _, p := range []string{"GET /{$}", "GET /rooms", "GET /rooms/{id}", "GET /endpoints", "GET /endpoints/{id}", "GET /dashboard"} {
		rs = append(rs, Route{p, page})
	}
	return append(rs,
		Route{"GET /assets/", c.guard(c.assets)},
		Route{"POST /console/sign-in", c.guard(c.signIn)},
		Route{"POST /console/sign-out", c.guard(c.signOut)},
		Route{"GET /console/api/stats", c.guard(c.session(c.stats))},
		Route{"GET /console/api/rooms", c.guard(c.session(c.rooms))},
		Route{"/console/api/v1/", c.guard(c.session(c.proxy(api)))},
		Route{"GET /portal/{token}", c.guard(c.portalPage)},
		Route{"/portal/api/", c.guard(c.portalAPI())},
	)
}

// Route is one of the console's routes, for the server's route table.
type Route struct {
	Pattern string
	Handler http.Handler
}

// securityHeaders are set on every console and portal response: no inline script, no
// eval, no framing, no MIME sniffing, no referrer to other sites (portal URLs carry their
// link; "no-referrer" would also make the browser send "Origin: null" on same-site forms).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "+
		"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

func (c *Console) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		next(w, r)
	}
}

func (c *Console) assets(w http.ResponseWriter, r *http.Request) {
	// Assets change only with the binary; revalidate cheaply instead of caching blindly.
	w.Header().Set("Cache-Control", "no-cache")
	c.static.ServeHTTP(w, r)
}

type pageData struct {
	Title string
	CSRF  string
	Next  string
	Error string
	Page  string // which script the layout loads
}

func (c *Console) render(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", d); err != nil {
		c.o.Log.Warn("console: render page", slog.Any("error", err))
	}
}

// page serves the console shell for every deep link, or the sign-in form.
func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	sess, ok := c.sessionOf(r)
	if !ok {
		d := pageData{Title: "Sign in", Next: r.URL.Path, Page: "signin"}
		if r.URL.Query().Has("expired") {
			d.Error = "Your session has ended. Sign in again to continue."
		}
		c.render(w, http.StatusOK, c.signin, d)
		return
	}
	c.render(w, http.StatusOK, c.app, pageData{Title: "chathooks", CSRF: c.csrfToken(sess), Page: "app"})
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
