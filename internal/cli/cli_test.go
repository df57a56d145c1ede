package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/cli"
)

// The test binary doubles as the server: with CHATHOOKS_CHILD set it runs the CLI with
// the arguments in that variable (separated by \\x1f), so crash tests can SIGKILL a real server
// process.
func TestMain(m *testing.M) {
	if args := os.Getenv("CHATHOOKS_CHILD"); args != "" {
		ctx, stop := signalContext()
		code := cli.Run(ctx, strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestHelpListsEveryFlagWithItsEnvironmentVariable(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"--help"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	help := out.String()
	for _, want := range []string{
		"--addr", "CHATHOOKS_ADDR", "--data", "CHATHOOKS_DATA", "--database-url", "CHATHOOKS_DATABASE_URL",
		"--admin-token", "CHATHOOKS_ADMIN_TOKEN", "--base-url", "CHATHOOKS_BASE_URL",
		"--room-rate-limit", "CHATHOOKS_ROOM_RATE_LIMIT", "--room-rate-burst", "CHATHOOKS_ROOM_RATE_BURST",
		"--allow-private-targets", "CHATHOOKS_ALLOW_PRIVATE_TARGETS",
		"--delivery-retention", "CHATHOOKS_DELIVERY_RETENTION",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %s:\n%s", want, help)
		}
	}
}

func TestVersionAndBadFlags(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "chathooks ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := cli.Run(context.Background(), []string{"--no-such-flag"}, &out, &errb); code == 0 {
		t.Fatal("unknown flag accepted")
	}
}

type child struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var urlRE = regexp.MustCompile(`running on (http://127\.0\.0\.1:\d+)`)

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CHATHOOKS_CHILD="+strings.Join(args, "\x1f"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case c.url = <-found:
	case err := <-c.done:
		t.Fatalf("server exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within 60s")
	}
	return c
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// Every 201 is durable: SIGKILL right after the last one loses nothing.
func TestKill9AfterCreatedLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--admin-token", "tok"}
	c := startChild(t, args...)
	if code, m := call(t, "POST", c.url+"/api/v1/users", `{"id":"a","name":"A"}`); code != 201 {
		t.Fatalf("user: %d %v", code, m)
	}
	if code, m := call(t, "POST", c.url+"/api/v1/rooms", `{"id":"r","name":"R","member_ids":["a"]}`); code != 201 {
		t.Fatalf("room: %d %v", code, m)
	}
	// Concurrent posters; each records the ids it got a 201 for.
	const posters, per = 8, 25
	acked := make(chan string, posters*per)
	errs := make(chan error, posters)
	for p := 0; p < posters; p++ {
		go func() {
			for i := 0; i < per; i++ {
				req, _ := http.NewRequest("POST", c.url+"/api/v1/rooms/r/messages", strings.NewReader(fmt.Sprintf(`{"sender_id":"a","text":"m %d %d"}`, p, i)))
				req.Header.Set("Authorization", "Bearer tok")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var m struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					errs <- fmt.Errorf("post: %d", resp.StatusCode)
					return
				}
				acked <- m.ID
			}
			errs <- nil
		}()
	}
	for p := 0; p < posters; p++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The last 201 was just received: kill at once.
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	close(acked)

	c2 := startChild(t, args...)
	var got struct {
		Items []struct{ ID string } `json:"items"`
	}
	stored := map[string]bool{}
	after := ""
	for {
		req, _ := http.NewRequest("GET", c2.url+"/api/v1/rooms/r/messages?limit=200&after="+after, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got.Items = nil
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		for _, m := range got.Items {
			stored[m.ID] = true
			after = m.ID
		}
		if len(got.Items) < 200 {
			break
		}
	}
	n := 0
	for id := range acked {
		n++
		if !stored[id] {
			t.Errorf("acknowledged message %s lost after kill -9", id)
		}
	}
	if n != posters*per || len(stored) != n {
		t.Fatalf("acked %d, stored %d", n, len(stored))
	}
	// SIGTERM shuts down cleanly with exit 0.
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c2.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}
