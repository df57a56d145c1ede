package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPanicLogOmitsSecretPaths: a handler panicking on a path that carries a webhook token
// is answered 500 and logged with its route pattern, never the path with the token.
func TestPanicLogOmitsSecretPaths(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{token}", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := recoverer(log, mux)
	srv := httptest.NewServer(h)
	defer srv.Close()
	const token = "s3cr3t-webhook-token-value"
	resp, err := http.Post(srv.URL+"/hooks/"+token+"?also="+token, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	out := logs.String()
	if !strings.Contains(out, "handler panicked") || !strings.Contains(out, "/hooks/{token}") {
		t.Fatalf("panic not logged with its route: %q", out)
	}
	if strings.Contains(out, token) {
		t.Fatalf("the token is in the log: %q", out)
	}
}
