package bench

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPostToken(t *testing.T) {
	for body, want := range map[string]int64{ // -1: no token
		`{"data":{"text":"chbench:123; disk usage"}}`: 123,
		`chbench:7;`:                    7,
		`chbench:0;`:                    0,
		`no token`:                      -1,
		`chbench:;`:                     -1,
		`chbench:12`:                    -1,
		`chbench:12 x;`:                 -1,
		`chbench:12345678901234567890;`: -1, // longer than any token
		`x chbench:9;chbench:8;`:        9,
	} {
		n, ok := postToken([]byte(body))
		got := int64(-1)
		if ok {
			got = int64(n)
		}
		if got != want {
			t.Errorf("postToken(%q) = %d, %v; want %d", body, n, ok, want)
		}
	}
}

// The receiver answers keep-alive requests in turn, counts repeats of a webhook-id once,
// fails in 500 mode, and a black hole holds a request until Close.
func TestReceiver(t *testing.T) {
	var sent SendTimes
	var lat Latencies
	sent.Store(7, time.Now())
	ok, err := StartReceiver("ok", 0, &sent, &lat)
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	send := func(url, id string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"text":"chbench:7;"}`))
		req.Header.Set("webhook-id", id)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, id := range []string{"msg_1", "msg_2", "msg_1"} {
		if code, err := send(ok.URL, id); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %v", id, code, err)
		}
	}
	if ok.Requests() != 3 || ok.Received() != 2 || lat.Summary().Count != 2 {
		t.Fatalf("requests %d, received %d, latencies %d", ok.Requests(), ok.Received(), lat.Summary().Count)
	}

	failing, err := StartReceiver("500", 0, &sent, &lat)
	if err != nil {
		t.Fatal(err)
	}
	defer failing.Close()
	if code, err := send(failing.URL, "msg_3"); err != nil || code != http.StatusInternalServerError {
		t.Fatalf("500 mode: %d %v", code, err)
	}

	hole, err := StartReceiver("blackhole", 0, &sent, &lat)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := send(hole.URL, "msg_4"); done <- err }()
	for deadline := time.Now().Add(5 * time.Second); hole.conns0() == 0; runtime.Gosched() {
		if time.Now().After(deadline) { // the request is in once its connection is open
			t.Fatal("the black hole never saw a connection")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("a black hole answered: %v", err)
	default:
	}
	hole.Close()
	if err := <-done; err == nil {
		t.Fatal("a black-holed request succeeded")
	}
}

// conns0 is how many connections the receiver has open.
func (r *Receiver) conns0() int {
	r.connsMu.Lock()
	defer r.connsMu.Unlock()
	return len(r.conns)
}
