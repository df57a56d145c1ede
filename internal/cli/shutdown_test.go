package cli_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseReader reads an SSE response in the background: every "id:" it sees goes to ids, and
// the read's final error (io.EOF for a clean end) to end.
type sseReader struct {
	ids    chan string
	events chan string
	end    chan error
}

func openStream(t *testing.T, url, lastEventID string) *sseReader {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Last-Event-ID", lastEventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	r := &sseReader{ids: make(chan string, 100), events: make(chan string, 100), end: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				r.end <- err
				return
			}
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				r.ids <- strings.TrimSpace(id)
			}
			if ev, ok := strings.CutPrefix(line, "event: "); ok {
				r.events <- strings.TrimSpace(ev)
			}
		}
	}()
	return r
}

// waitEvent returns the SSE id of the next event of type typ.
func (r *sseReader) waitEvent(t *testing.T, typ string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		var id string
		select {
		case id = <-r.ids:
		case err := <-r.end:
			t.Fatalf("stream ended waiting for %s: %v", typ, err)
		case <-deadline:
			t.Fatalf("no %s event within 10s", typ)
		}
		if <-r.events == typ {
			return id
		}
	}
}

// SIGTERM with a live stream open: the stream ends cleanly (the client sees the body close),
// the process exits 0 in well under 5 s, and after a restart the client resumes exactly after
// the last event it saw with Last-Event-ID.
func TestSIGTERMWithOpenStreamExitsZeroAndStreamResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--admin-token", "tok"}
	c := startChild(t, args...)
	for _, r := range []struct{ path, body string }{
		{"/api/v1/users", `{"id":"a","name":"A"}`},
		{"/api/v1/rooms", `{"id":"r","name":"R","member_ids":["a"]}`},
		{"/api/v1/rooms/r/messages", `{"sender_id":"a","text":"before"}`},
	} {
		if code, m := call(t, "POST", c.url+r.path, r.body); code != 201 {
			t.Fatalf("POST %s: %d %v", r.path, code, m)
		}
	}
	st := openStream(t, c.url+"/api/v1/rooms/r/stream?user_id=a", "0")
	last := st.waitEvent(t, "group_channel:message_send")

	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-st.end:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("stream ended with %v, want a clean end of body", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was still open 5s after SIGTERM")
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM with a stream open: %v", err)
		}
	case <-time.After(5*time.Second - time.Since(start)):
		t.Fatal("no exit within 5s of SIGTERM with a stream open")
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))

	c2 := startChild(t, args...)
	if code, m := call(t, "POST", c2.url+"/api/v1/rooms/r/messages", `{"sender_id":"a","text":"after"}`); code != 201 {
		t.Fatalf("post after restart: %d %v", code, m)
	}
	st2 := openStream(t, c2.url+"/api/v1/rooms/r/stream", last)
	first := <-st2.ids
	if ev := <-st2.events; first == last || ev != "group_channel:message_send" {
		t.Fatalf("resumed at id %s (%s), last seen %s", first, ev, last)
	}
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-c2.done; err != nil {
		t.Fatalf("second exit: %v", err)
	}
}
