// Package apptest starts a real chathooks server for end-to-end tests: port 0 on
// 127.0.0.1, a temporary SQLite database, a known admin token, and a small JSON client.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// BackendEnv set to "postgres" runs every test server on PostgreSQL (a fresh schema on the
// server named by CHATHOOKS_TEST_DATABASE_URL) instead of SQLite.
const BackendEnv = "CHATHOOKS_TEST_BACKEND"

// AdminToken is the admin token of every test server.
const AdminToken = "test-admin-token"

// Server is a running test server.
type Server struct {
	*app.App
	T      testing.TB
	URL    string
	Client *http.Client
	Clock  *clock.Fake // nil unless Options.FakeClock
}

// Options adjust the test server.
type Options struct {
	FakeClock bool
	DataDir   string // default t.TempDir()
	Config    func(*app.Config)
	Log       *slog.Logger // default Logger(t)
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cfg := app.Config{
		Addr: "127.0.0.1:0", DataDir: o.DataDir, AdminToken: AdminToken,
		RoomRateLimit: 0, RoomRateBurst: 1, AllowPrivateTargets: true, ShutdownTimeout: 5 * time.Second, Version: "test",
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s := &Server{T: t}
	if o.FakeClock {
		s.Clock = clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		cfg.Clock = s.Clock
	}
	if os.Getenv(BackendEnv) == "postgres" && cfg.DatabaseURL == "" {
		cfg.DatabaseURL = pgtest.URL(t)
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	log := o.Log
	if log == nil {
		log = Logger(t)
	}
	a, err := app.New(context.Background(), cfg, log, io.Discard)
	if err != nil {
		t.Fatalf("apptest: new: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("apptest: start: %v", err)
	}
	s.App = a
	s.URL = "http://" + a.Addr()
	s.Client = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	// Runs before the shutdown above: the delivery engine's safety re-scan must have found
	// nothing, since every delivery is handed over or recovered through a real wake-up.
	t.Cleanup(func() {
		if n := s.Counter("chathooks_delivery_rescan_found_total"); n != 0 {
			t.Errorf("apptest: the delivery re-scan found %v deliveries that no wake-up announced", n)
		}
	})
	return s
}

// Counter returns the value of the server's counter named name (summed over its label
// values; 0 if it has none).
func (s *Server) Counter(name string) float64 {
	return s.sumMetric(name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// HistogramSum returns the sum of the observations of the server's histogram named name
// (over its label values; 0 if it has none).
func (s *Server) HistogramSum(name string) float64 {
	return s.sumMetric(name, func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() })
}

// sumMetric sums value over the series of the server's metric named name.
func (s *Server) sumMetric(name string, value func(*dto.Metric) float64) float64 {
	mfs, err := s.Metrics.Registry.Gather()
	if err != nil {
		s.T.Fatalf("apptest: gather metrics: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += value(m)
			}
		}
	}
	return total
}

// Logger returns a logger writing to the test log at warn level and above.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Response is a decoded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v (failing the test on error) and returns v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %d body %q: %v", r.Status, r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrorCode returns error.code of an API error body ("" if none).
func (r Response) ErrorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends a request to path with the admin token. body may be nil, a string or []byte
// (sent as is) or any other value (sent as JSON).
func (s *Server) Do(method, path string, body any, headers ...string) Response {
	s.T.Helper()
	return s.DoRaw(method, path, body, append([]string{"Authorization", "Bearer " + AdminToken}, headers...)...)
}

// DoRaw sends a request without adding authentication. headers are name, value pairs.
func (s *Server) DoRaw(method, path string, body any, headers ...string) Response {
	s.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.T.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.T.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		s.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.T.Fatalf("read body: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must sends a request with the admin token and fails the test unless the status is want.
func (s *Server) Must(want int, method, path string, body any, headers ...string) Response {
	s.T.Helper()
	r := s.Do(method, path, body, headers...)
	if r.Status != want {
		s.T.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// Eventually polls cond every few milliseconds until it is true or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}
