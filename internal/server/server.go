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
	"sync/atomic"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/metrics"
)

// MaxBodyBytes caps every request body on every route (1 MiB, SPEC §3).
const MaxBodyBytes = 1 << 20

// HashToken is how the admin token is stored: hex SHA-256 (tokens are high-entropy).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Ready reports whether the server can serve: database reachable, schema current.
type Ready func(ctx context.Context) error

// Routes is everything the route table mounts.
type Routes struct {
	Log          *slog.Logger
	Metrics      *metrics.Metrics
	API          http.Handler // the /api/v1 mux (huma)
	OpenAPI      func() ([]byte, error)
	AdminHash    string // hex SHA-256 of the admin token
	Ready        Ready
	Extra        func(mux *http.ServeMux) // dialect endpoints and other non-API routes
	ShuttingDown *atomic.Bool
}

// Handler builds the one route table of the server.
func Handler(r Routes) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
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
	mux.Handle("GET /metrics", r.Metrics.Handler())
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		b, err := r.OpenAPI()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oai.openapi+json;version=3.1")
		_, _ = w.Write(b)
	})
	mux.Handle(api.Prefix+"/", adminAuth(r.AdminHash, jsonBody(r.API)))
	if r.Extra != nil {
		r.Extra(mux)
	}
	// capBody wraps the raw ResponseWriter so an oversize body also closes the connection.
	return capBody(recoverer(r.Log, instrument(r.Metrics, mux)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the SPEC §2 error body.
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
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
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

func instrument(m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		m.Requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.RequestDuration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
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
