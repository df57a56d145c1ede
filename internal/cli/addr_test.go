package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for the server's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runServe runs "serve" in process until the returned stop is called; stop returns the
// exit code.
func runServe(t *testing.T, dir string, args ...string) (stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, append([]string{"serve", "--data", dir}, args...), stdout, stderr) }()
	apptest.Eventually(t, 30*time.Second, "the server to start", func() bool { return strings.Contains(stdout.String(), "Press Ctrl-C") })
	return stdout, stderr, func() int { cancel(); return <-done }
}

// With --addr :PORT and no --base-url, nothing printed shows [::]; the start says that
// webhook URLs follow the request's Host and how to fix them; created webhook URLs use the
// Host the API request was sent to.
func TestAddrWithoutHostBuildsWebhookURLsFromTheRequestHost(t *testing.T) {
	t.Parallel()
	stdout, stderr, stop := runServe(t, t.TempDir(), "--addr", ":0", "--admin-token", "tok")
	out := stdout.String()
	if strings.Contains(out, "[::]") || strings.Contains(stderr.String(), "[::]") || !strings.Contains(out, "--base-url") {
		t.Fatalf("start output:\n%s\n%s", out, stderr.String())
	}
	m := regexp.MustCompile(`running on (http://127\.0\.0\.1:(\d+))`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no usable URL printed:\n%s", out)
	}
	base, port := m[1], m[2]
	if code, body := call(t, "POST", base+"/api/v1/rooms", `{"id":"ops","name":"Ops"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	create := func(host string) map[string]any {
		req, _ := http.NewRequest("POST", base+"/api/v1/rooms/ops/webhooks", strings.NewReader(`{"name":"n"}`))
		req.Header.Set("Authorization", "Bearer tok")
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v struct{ URLs map[string]any }
		if resp.StatusCode != 201 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("create webhook with Host %q: %d %s", host, resp.StatusCode, b)
		}
		return v.URLs
	}
	for host, want := range map[string]string{
		"chat.example.com:" + port: "http://chat.example.com:" + port + "/",
		"10.1.2.3:" + port:         "http://10.1.2.3:" + port + "/",
		"[2001:db8::5]:" + port:    "http://[2001:db8::5]:" + port + "/",
		"chat.example.com":         "http://chat.example.com/",
	} {
		for dialect, u := range create(host) {
			if !strings.HasPrefix(u.(string), want) {
				t.Errorf("Host %s: %s URL %s, want prefix %s", host, dialect, u, want)
			}
		}
	}
	// A Host naming every interface is no usable host: it is never echoed into a URL.
	for dialect, u := range create("[::]:" + port) {
		if strings.Contains(u.(string), "[::]") || strings.Contains(u.(string), "0.0.0.0") {
			t.Errorf("%s URL %s", dialect, u)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}

	// --base-url wins, and the note is not printed.
	stdout, _, stop = runServe(t, t.TempDir(), "--addr", ":0", "--admin-token", "tok", "--base-url", "https://chat.example.org/")
	if out := stdout.String(); strings.Contains(out, "Note:") || !strings.Contains(out, "running on https://chat.example.org ") {
		t.Fatalf("with --base-url:\n%s", out)
	}
	if code := stop(); code != 0 {
		t.Fatal("exit", code)
	}
}
