package inbound_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	gchat "google.golang.org/api/chat/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/chathooks/chathooks/internal/apptest"
)

// Google's own Chat API client library, pointed at the server, posts, threads, retries
// idempotently and decodes our errors.
func TestGoogleChatClientLibrary(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "lib")
	h := newHook(t, s, "lib", "Library")
	ctx := context.Background()
	svc, err := gchat.NewService(ctx, option.WithEndpoint(s.URL+"/"), option.WithHTTPClient(http.DefaultClient), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	create := func(text, key, reply, requestID, token string) (*gchat.Message, error) {
		call := svc.Spaces.Messages.Create("spaces/lib", &gchat.Message{Text: text, Thread: &gchat.Thread{ThreadKey: key}})
		if reply != "" {
			call = call.MessageReplyOption(reply)
		}
		if requestID != "" {
			call = call.RequestId(requestID)
		}
		return call.Do(googleapi.QueryParameter("key", h.ID), googleapi.QueryParameter("token", token))
	}
	m1, err := create("first *bold*", "lib-thread", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "", h.Token)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Name == "" || m1.Thread == nil || m1.Thread.Name == "" {
		t.Fatalf("message %+v", m1)
	}
	m2, err := create("second", "lib-thread", "REPLY_MESSAGE_OR_FAIL", "rid-1", h.Token)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Thread.Name != m1.Thread.Name || m2.Name == m1.Name {
		t.Fatalf("reply %+v in %+v, want thread %s", m2, m2.Thread, m1.Thread.Name)
	}
	again, err := create("second", "lib-thread", "REPLY_MESSAGE_OR_FAIL", "rid-1", h.Token)
	if err != nil || again.Name != m2.Name {
		t.Fatalf("requestId repeat: %v %+v", err, again)
	}
	_, err = create("x", "never", "REPLY_MESSAGE_OR_FAIL", "", h.Token)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 404 {
		t.Fatalf("or-fail: %v", err)
	}
	_, err = create("x", "", "", "", neverIssued)
	if !errors.As(err, &ge) || ge.Code != 401 || ge.Message == "" {
		t.Fatalf("wrong token: %v", err)
	}
	if n := len(messages(t, s, "lib")); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}
