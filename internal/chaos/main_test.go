// Package chaos holds the reliability harnesses that run the real server under faults: a
// crash loop that SIGKILLs server processes under load, and faults of the database, the
// disk, receivers, clients and the clock.
package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/cli"
)

// serveArgsEnv makes the test binary run "chathooks" with the JSON-encoded arguments it
// holds instead of the tests: the harness starts the real command line (the same cli.Run
// that cmd/chathooks calls) as a child process it can SIGKILL.
const serveArgsEnv = "CHATHOOKS_CHAOS_ARGS"

var cycles = flag.Int("cycles", 20, "crash-loop cycles per backend (long runs: -cycles 1000 -timeout 0)")

func TestMain(m *testing.M) {
	if enc := os.Getenv(serveArgsEnv); enc != "" {
		var args []string
		if err := json.Unmarshal([]byte(enc), &args); err != nil {
			fmt.Fprintln(os.Stderr, "chaos child:", err)
			os.Exit(2)
		}
		if os.Getenv(writeTrapEnv) != "" {
			// Before anything opens a file: the parent answers the trapped calls from now on.
			fd, err := installWriteTrap()
			if err != nil {
				fmt.Printf("%serror=%v\n", writeTrapNote, err)
				os.Exit(3)
			}
			fmt.Printf("%sfd=%d\n", writeTrapNote, fd)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	flag.Parse()
	os.Exit(m.Run())
}

var runningRE = regexp.MustCompile(`running on (http://127\.0\.0\.1:\d+)`)

// proc is one server process.
type proc struct {
	cmd  *exec.Cmd
	url  string        // set once the server printed its address
	up   chan struct{} // closed when url is set
	done chan struct{} // closed when the process has exited
	// notes receives the lines the harness's own code in the child prints (prefix
	// "chaos-"), e.g. the file descriptor of its write trap.
	notes chan string
	mu    sync.Mutex
	errs  strings.Builder // stderr, for failure messages
}

// spawn starts the server with args; it does not wait for it to listen.
func spawn(t testing.TB, args ...string) *proc {
	t.Helper()
	return spawnEnv(t, nil, args...)
}

// spawnEnv is spawn with extra environment variables for the child.
func spawnEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), serveArgsEnv+"="+string(enc))
	p := &proc{cmd: cmd, up: make(chan struct{}), done: make(chan struct{}), notes: make(chan string, 8)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.errs.Len() < 64<<10 {
			p.errs.Write(b)
		}
		return len(b), nil
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // reads stdout for the address, then drains it
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := runningRE.FindStringSubmatch(sc.Text()); m != nil && p.url == "" {
				p.url = m[1]
				close(p.up)
			}
			if strings.HasPrefix(sc.Text(), "chaos-") {
				select {
				case p.notes <- sc.Text():
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// start spawns the server and waits until it listens.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	p := spawn(t, args...)
	select {
	case <-p.up:
	case <-p.done:
		t.Fatalf("server exited before listening: %s", p.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not listen within 60s: %s", p.stderr())
	}
	return p
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs.String()
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to shut down (SIGTERM) and waits.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
