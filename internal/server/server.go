// Package server owns the HTTP side: the route table, middleware (auth, metrics, body caps,
// recovery), health endpoints and the http.Server lifecycle.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/metrics"
)

// HashToken is how the admin token is stored: hex SHA-256 (tokens are high-entropy).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Ready reports whether the server can serve: database reachable, schema current.
type Ready func(ctx context.Context) error

// Routes is everything the route table mounts.
type Routes struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics
	API     *http.ServeMux // the /api/v1 mux (huma)
	// OpenAPI is the API's document (huma); the other routes' descriptions are added to it.
	OpenAPI      *huma.OpenAPI
	AdminHash    string // hex SHA-256 of the admin token
	Ready        Ready
	Inbound      Dialects     // the incoming-webhook endpoints
	Sendbird     http.Handler // Sendbird's webhook settings API (GET and PUT)
	ShuttingDown *atomic.Bool
	// Console returns the web console's and the owners' portal's routes (may be nil); api
	// is the /api/v1 handler without the bearer check (the console authenticates its own
	// proxy with the session).
	Console func(api http.Handler) []Route
}

// Dialects are the incoming-webhook endpoints, one per dialect.
type Dialects interface {
	Chime(w http.ResponseWriter, r *http.Request)
	GoogleChat(w http.ResponseWriter, r *http.Request)
	Slack(w http.ResponseWriter, r *http.Request)
	Mattermost(w http.ResponseWriter, r *http.Request)
}

// Route is one entry of the route table.
type Route struct {
	Pattern string // http.ServeMux pattern
	Handler http.Handler
	// Dialect names the incoming-webhook dialect a route serves ("" for others): its posts
	// are counted by dialect and status.
	Dialect string
	// Doc describes the route in /openapi.json; nil for the API mount, whose operations
	// huma describes, and for UI routes.
	Doc *huma.Operation
	// UI marks the web console's and the portal's routes: browser pages and the session
	// calls behind them, not part of the HTTP API, so /openapi.json does not describe them.
	UI bool
}

// table is the one route table of the server: every route it serves.
func table(r Routes) []Route {
	rs := []Route{
		{Pattern: "GET /healthz", Handler: http.HandlerFunc(health), Doc: healthDoc()},
		{Pattern: "GET /readyz", Handler: ready(r), Doc: readyDoc()},
		{Pattern: "GET /metrics", Handler: r.Metrics.Handler(), Doc: metricsDoc()},
		{Pattern: "GET /openapi.json", Handler: serveOpenAPI(r.OpenAPI), Doc: openAPIDoc()},
		{Pattern: api.Prefix + "/", Handler: adminAuth(r.AdminHash, jsonBody(r.API))},
		{Pattern: "POST /incomingwebhooks/{id}", Handler: http.HandlerFunc(r.Inbound.Chime), Dialect: "chime", Doc: chimeDoc(r.OpenAPI)},
		{Pattern: "POST /v1/spaces/{space}/messages", Handler: http.HandlerFunc(r.Inbound.GoogleChat), Dialect: "google_chat", Doc: googleChatDoc(r.OpenAPI)},
		{Pattern: "POST /services/{room}/{id}/{token}", Handler: http.HandlerFunc(r.Inbound.Slack), Dialect: "slack", Doc: slackDoc(r.OpenAPI)},
		{Pattern: "POST /hooks/{token}", Handler: http.HandlerFunc(r.Inbound.Mattermost), Dialect: "mattermost", Doc: mattermostDoc(r.OpenAPI)},
		{Pattern: "GET /v3/applications/settings/webhook", Handler: r.Sendbird, Doc: sendbirdGetDoc(r.OpenAPI)},
		{Pattern: "PUT /v3/applications/settings/webhook", Handler: r.Sendbird, Doc: sendbirdPutDoc(r.OpenAPI)},
	}
	if r.Console != nil {
		for _, rt := range r.Console(jsonBody(r.API)) {
			rt.UI = true
			rs = append(rs, rt)
		}
	}
	return rs
}

// Handler mounts the route table, describes its routes in the OpenAPI document and wraps
// it in the middleware every request goes through. It also returns the table.
func Handler(r Routes) (http.Handler, []Route) {
	mux := http.NewServeMux()
	dialects := map[string]string{}
	rs := table(r)
	for _, rt := range rs {
		mux.Handle(rt.Pattern, rt.Handler)
		if rt.Dialect != "" {
			dialects[routeLabel(rt.Pattern)] = rt.Dialect
		}
		if rt.Doc != nil {
			describe(r.OpenAPI, rt)
		}
	}
	// capBody wraps the raw ResponseWriter so an oversize body also closes the connection.
	return capBody(recoverer(r.Log, instrument(r.Metrics, r.API, dialects, mux))), rs
}

func health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func ready(r Routes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.ShuttingDown != nil && r.ShuttingDown.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			r.Log.Warn("not ready", slog.Any("error", err))
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": chat.ErrorMessage(err)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// serveOpenAPI serves the document, encoded once on first use (it is complete by then:
// Handler describes every route before serving).
func serveOpenAPI(doc *huma.OpenAPI) http.Handler {
	encode := sync.OnceValues(func() ([]byte, error) { return json.Marshal(doc) })
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := encode()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oai.openapi+json;version=3.1")
		_, _ = w.Write(b)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the API's error body.
func WriteError(w http.ResponseWriter, code chat.Code, msg string) {
	writeJSON(w, api.Status(code), api.ErrorBody{Error: api.ErrorDetail{Code: string(code), Message: msg}})
}

// adminAuth checks "Authorization: Bearer <admin token>" in constant time.
func adminAuth(hash string, next http.Handler) http.Handler {
	want := []byte(hash)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chathooks"`)
			WriteError(w, chat.CodeUnauthenticated, "missing bearer token: send Authorization: Bearer <admin token>")
			return
		}
		if subtle.ConstantTimeCompare([]byte(HashToken(strings.TrimSpace(tok))), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chathooks", error="invalid_token"`)
			WriteError(w, chat.CodeUnauthenticated, "invalid admin token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonBody treats every API request body as JSON whatever its Content-Type says.
func jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && !strings.Contains(r.Header.Get("Content-Type"), "json") {
			r.Header.Set("Content-Type", "application/json")
		}
		next.ServeHTTP(w, r)
	})
}

// capBody reads every request body through a hard cap. It caps a shallow copy of the
// request: net/http decides whether a connection can be reused by looking at the body of
// its own request value, so replacing that body would let an unread oversize body be
// parsed as the next request on a kept-alive connection.
func capBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r = r.WithContext(r.Context())
			r.Body = http.MaxBytesReader(w, r.Body, chat.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// routeLabel is a route pattern without its method: the route label of the metrics.
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// instrument counts and times every request by route pattern (the API's own pattern for
// API requests, "unmatched" for paths no route serves), and incoming-webhook posts by
// dialect and status.
func instrument(m *metrics.Metrics, apiMux *http.ServeMux, dialects map[string]string, next http.Handler) http.Handler {
	apiMount := api.Prefix + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == apiMount {
			// The API's mux did not route it (authentication failed first): find its
			// operation's pattern, if any.
			_, route = apiMux.Handler(r)
		}
		label := routeLabel(route)
		if label == "" {
			label = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		code := strconv.Itoa(sw.status)
		m.Requests.WithLabelValues(label, r.Method, code).Inc()
		m.RequestDuration.WithLabelValues(label, r.Method).Observe(time.Since(start).Seconds())
		if d := dialects[label]; d != "" && r.Method == http.MethodPost {
			m.IncomingPosts.WithLabelValues(d, code).Inc()
		}
	})
}

func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The route pattern, not the path: webhook paths carry their secret token.
				log.Error("handler panicked", slog.Any("panic", p), slog.String("route", r.Pattern))
				WriteError(w, chat.CodeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
