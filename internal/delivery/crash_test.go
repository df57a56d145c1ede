package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// crashServerEnv makes the test binary run as a chathooks server on the data dir it names
// (see TestMain): the crash test starts it as a child process and SIGKILLs it.
const crashServerEnv = "CHATHOOKS_TEST_CRASH_SERVER_DATA"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashServerEnv); dir != "" {
		runCrashServer(dir)
		return
	}
	os.Exit(m.Run())
}

// crashServerDBEnv, if set, is the PostgreSQL URL the crash server uses instead of SQLite.
const crashServerDBEnv = "CHATHOOKS_TEST_CRASH_SERVER_DATABASE_URL"

// crashLeaseMargin is the PostgreSQL crash server's lease margin: its leases expire at
// most the default endpoint timeout plus this after its last renewal.
const crashLeaseMargin = time.Second

func runCrashServer(dir string) {
	cfg := app.Config{Addr: "127.0.0.1:0", DataDir: dir, AdminToken: apptest.AdminToken, AllowPrivateTargets: true}
	if url := os.Getenv(crashServerDBEnv); url != "" {
		cfg.DatabaseURL, cfg.DeliveryLeaseMargin = url, crashLeaseMargin
	}
	a, err := app.New(context.Background(), cfg,
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), io.Discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash server:", err)
		os.Exit(2)
	}
	if err := a.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "crash server:", err)
		os.Exit(2)
	}
	fmt.Printf("ADDR %s\n", a.Addr())
	select {} // until SIGKILL
}

type child struct {
	cmd  *exec.Cmd
	base string
}

func startChild(t *testing.T, dir, dbURL string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashServerEnv+"="+dir, crashServerDBEnv+"="+dbURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child server did not start: %q %v", line, err)
	}
	return &child{cmd: cmd, base: "http://" + strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))}
}

func (c *child) do(t *testing.T, method, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+"/api/v1"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestCrashRedeliversAfterSIGKILL: a child server is killed with SIGKILL while deliveries
// are in flight to a receiver that holds them; after a restart on the same data directory every
// committed event reaches the endpoint at least once, duplicates with the same event id,
// within 2 s of the new start (on SQLite the new process releases the dead one's leases
// at once; on PostgreSQL the new node takes them when they expire).
func TestCrashRedeliversAfterSIGKILL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := ""
	if os.Getenv(apptest.BackendEnv) == "postgres" {
		dbURL = pgtest.URL(t)
	}
	var mu sync.Mutex
	ids := map[string]map[string]bool{} // message id -> webhook-ids seen
	requests := 0
	var killed atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request, body []byte) {
		var b struct {
			Data struct{ Message chat.Message }
		}
		_ = json.Unmarshal(body, &b)
		mu.Lock()
		requests++
		if ids[b.Data.Message.ID] == nil {
			ids[b.Data.Message.ID] = map[string]bool{}
		}
		ids[b.Data.Message.ID][r.Header.Get("webhook-id")] = true
		mu.Unlock()
		if !killed.Load() {
			<-r.Context().Done() // held until the server dies: deliveries are in flight then
		}
		w.WriteHeader(http.StatusOK)
	})
	c := startChild(t, dir, dbURL)
	if st := c.do(t, "POST", "/endpoints", map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 4}); st != http.StatusCreated {
		t.Fatalf("create endpoint: %d", st)
	}
	c.do(t, "POST", "/users", map[string]any{"id": "u", "name": "U"})
	c.do(t, "POST", "/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"u"}})
	var committed []string
	for i := range 30 {
		var m chat.Message
		b, _ := json.Marshal(map[string]any{"sender_id": "u", "text": fmt.Sprint("m", i)})
		req, _ := http.NewRequest("POST", c.base+"/api/v1/rooms/r/messages", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusCreated {
			_ = json.NewDecoder(resp.Body).Decode(&m)
			committed = append(committed, m.ID)
		}
		resp.Body.Close()
	}
	apptest.Eventually(t, 20*time.Second, "deliveries in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return requests >= 4 // the endpoint's max_in_flight
	})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	killedAt := time.Now()
	killed.Store(true)
	mu.Lock()
	before := len(ids)
	mu.Unlock()
	if before >= len(committed) {
		t.Fatalf("everything was delivered before the kill: the test proves nothing")
	}

	startChild(t, dir, dbURL)
	started := time.Now()
	// On PostgreSQL the dead node's leases last the default endpoint timeout plus the
	// margin after their last renewal, which came before the kill.
	from, deadline := started, 2*time.Second
	if dbURL != "" {
		from = killedAt
		deadline += chat.DefaultTimeout + crashLeaseMargin
	}
	apptest.Eventually(t, 60*time.Second, "every committed message delivered after restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range committed {
			if len(ids[id]) == 0 {
				return false
			}
		}
		return true
	})
	if took := time.Since(from); took > deadline {
		t.Fatalf("the dead process's work took %v to deliver, want at most %v", took.Round(time.Millisecond), deadline)
	}
	mu.Lock()
	defer mu.Unlock()
	dupes := requests - len(committed)
	for id, whs := range ids {
		if len(whs) != 1 {
			t.Fatalf("message %s arrived under %d different webhook-ids", id, len(whs))
		}
	}
	t.Logf("%d committed messages; %d delivered before SIGKILL; %d requests in all (%d duplicates, same event ids); all delivered %v after the new start",
		len(committed), before, requests, dupes, time.Since(started).Round(time.Millisecond))
}
