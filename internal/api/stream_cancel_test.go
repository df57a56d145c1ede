package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// catchUpStore holds a stream's catch-up read until the stream's context ends.
type catchUpStore struct {
	chat.Store
	entered chan struct{}
	once    sync.Once
}

func (s *catchUpStore) RoomEventsAfter(ctx context.Context, room string, after int64, limit int) ([]chat.Event, error) {
	s.once.Do(func() { close(s.entered) })
	<-ctx.Done()
	return nil, ctx.Err()
}

// warnings records the messages logged at warn level and above.
type warnings struct {
	slog.Handler
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// A client that leaves a stream while its catch-up is being read is not a fault: nothing
// is logged as a warning (in tests the log is the test's, where a stray warning fails a
// fuzz target).
func TestStreamLeftDuringCatchUpIsNotAWarning(t *testing.T) {
	t.Parallel()
	cs := &catchUpStore{entered: make(chan struct{})}
	logged := &warnings{}
	s := apptest.Start(t, apptest.Options{Log: slog.New(logged), Config: func(c *app.Config) {
		c.WrapServiceStore = func(st chat.Store) chat.Store { cs.Store = st; return cs }
	}})
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R"})
	done := s.Counter("chathooks_http_requests_total")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/rooms/r/stream", nil)
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	req.Header.Set("Last-Event-ID", "0")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-cs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never read its catch-up")
	}
	cancel()
	// The handler has returned once the request is counted.
	apptest.Eventually(t, 10*time.Second, "the stream's request counted", func() bool {
		return s.Counter("chathooks_http_requests_total") > done
	})
	logged.mu.Lock()
	defer logged.mu.Unlock()
	if len(logged.msgs) > 0 {
		t.Fatalf("warnings logged for a client that left: %q", logged.msgs)
	}
}
