package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
)

// An oversize body answered with 413 must not leave its unread bytes to be parsed as the
// next request on the same kept-alive connection.
func TestOversizeBodyDoesNotPoisonKeepAlive(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := `{"name":"` + strings.Repeat("x", 3<<20) + `"}`
	fmt.Fprintf(conn, "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", apptest.AdminToken, len(body))
	go func() { _, _ = conn.Write([]byte(body)) }() // the server may stop reading early
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("first response %d", resp.StatusCode)
	}
	// Whatever comes next on this connection must be either nothing (closed) or a real
	// response to a real request, never one to bytes of the first body.
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp2, err := http.ReadResponse(br, nil)
	if err != nil {
		return // the server closed the connection: correct
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK {
		t.Fatalf("the oversize body's leftover was parsed as a request: %d", resp2.StatusCode)
	}
}
