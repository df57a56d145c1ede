package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
)

func startApp(t *testing.T, dir string) *app.App {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, AdminToken: apptest.AdminToken, RoomRateBurst: 1,
		AllowPrivateTargets: true, ShutdownTimeout: 5 * time.Second, Version: "test",
	}, apptest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

func do(t *testing.T, a *app.App, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+a.Addr()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// A delivery in flight when shutdown begins, with a live stream open, gets its grace: the
// stream ends at once, the receiver's late answer is recorded, and Shutdown returns nil.
func TestShutdownGivesInFlightDeliveriesTheirGraceWithAStreamOpen(t *testing.T) {
	t.Parallel()
	got, release := make(chan struct{}, 10), make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	defer close(release)

	dir := t.TempDir()
	a := startApp(t, dir)
	var ep struct{ ID string }
	code, b := do(t, a, "POST", "/api/v1/endpoints", `{"url":"`+rc.URL+`","event_types":["group_channel:message_send"]}`)
	if code != 201 || json.Unmarshal(b, &ep) != nil {
		t.Fatalf("endpoint: %d %s", code, b)
	}
	do(t, a, "POST", "/api/v1/users", `{"id":"a","name":"A"}`)
	do(t, a, "POST", "/api/v1/rooms", `{"id":"r","name":"R","member_ids":["a"]}`)

	req, _ := http.NewRequest("GET", "http://"+a.Addr()+"/api/v1/rooms/r/stream", nil)
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	streamEnd := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		_, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
		streamEnd <- err
	}()

	if code, b := do(t, a, "POST", "/api/v1/rooms/r/messages", `{"sender_id":"a","text":"hi"}`); code != 201 {
		t.Fatalf("post: %d %s", code, b)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never reached the receiver")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- a.Shutdown(ctx) }()
	select {
	case err := <-streamEnd:
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream did not end at shutdown")
	}
	release <- struct{}{} // the receiver answers while the server is stopping
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("shutdown did not return")
	}

	b2 := startApp(t, dir)
	defer func() { _ = b2.Shutdown(context.Background()) }()
	code, body := do(t, b2, "GET", "/api/v1/endpoints/"+ep.ID+"/deliveries", "")
	var list struct {
		Items []struct{ Status string } `json:"items"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Items) != 1 || list.Items[0].Status != "succeeded" {
		t.Fatalf("after shutdown the in-flight delivery is %d %s, want succeeded", code, body)
	}
}
