package relay_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// A Google Chat thread survives a restart of the relaying server: the thread key is the
// root message's id, so a reply posted after the restart joins the root's thread.
func TestRelayThreadAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := "" // SQLite in dir, or one PostgreSQL schema for both runs
	if os.Getenv(apptest.BackendEnv) == "postgres" {
		dbURL = pgtest.URL(t)
	}
	gchat := newFakeTool(t, chat.TargetGoogleChat)
	first := startOn(t, dir, dbURL)

	mkUsers(t, first)
	mkRoom(t, first, "ops")
	mkEndpoint(t, first, map[string]any{"url": gchat.url(), "format": chat.TargetGoogleChat, "event_types": []string{chat.EventMessageSend}})
	root := post(t, first, "ops", "alice", "incident 8", "")
	apptest.Eventually(t, wait, "the root at Google Chat", func() bool { return len(gchat.all()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	second := apptest.Start(t, apptest.Options{DataDir: dir, Config: func(c *app.Config) { c.DatabaseURL = dbURL }})
	post(t, second, "ops", "bob", "on it", root.ID)
	apptest.Eventually(t, wait, "the reply at Google Chat", func() bool { return len(gchat.all()) == 2 })
	for i, h := range gchat.all() {
		th, _ := h.Body["thread"].(map[string]any)
		if th["threadKey"] != root.ID {
			t.Errorf("request %d: thread %v, want threadKey %s", i, th, root.ID)
		}
	}
}

// A target that is down for a while gets every message once it is back; a fifo endpoint
// gets them in the order they were posted, each once, none before the one ahead of it.
func TestRelayTargetDownThenBack(t *testing.T) {
	t.Parallel()
	for _, ordering := range []string{chat.OrderingConcurrent, chat.OrderingFIFO} {
		t.Run(ordering, func(t *testing.T) {
			t.Parallel()
			s := apptest.Start(t, apptest.Options{})
			mkUsers(t, s)
			mkRoom(t, s, "ops")
			slack := newFakeTool(t, chat.TargetSlack)
			var down atomic.Bool
			down.Store(true)
			var refused atomic.Int32
			slack.fail = func(_ int, w http.ResponseWriter) bool {
				if down.Load() {
					refused.Add(1)
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}
			// Retries at most a second apart (the default schedule waits minutes).
			mkEndpoint(t, s, map[string]any{"url": slack.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend},
				"retry": map[string]any{"max_interval_s": 1}, "ordering": ordering})
			for _, m := range []string{"one", "two", "three"} {
				post(t, s, "ops", "alice", m, "")
			}
			apptest.Eventually(t, wait, "the target to refuse", func() bool { return refused.Load() >= 3 })
			down.Store(false)
			want := []string{"*Alice*: one", "*Alice*: two", "*Alice*: three"}
			apptest.Eventually(t, wait, "every message after the target is back", func() bool {
				got := accepted(slack)
				return len(got) >= len(want) && containsAll(got, want)
			})
			if ordering == chat.OrderingFIFO {
				checkFIFO(t, slack, want)
			}
		})
	}
}

// accepted returns the texts a fake tool accepted, in arrival order.
func accepted(ft *fakeTool) []string {
	var got []string
	for _, h := range ft.all() {
		if !h.Refused {
			got = append(got, text(h))
		}
	}
	return got
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// checkFIFO checks that a fifo target accepted exactly want, in order, and was never sent
// a message before the one ahead of it was accepted.
func checkFIFO(t *testing.T, ft *fakeTool, want []string) {
	t.Helper()
	if got := accepted(ft); !slices.Equal(got, want) {
		t.Fatalf("accepted %q, want %q in this order", got, want)
	}
	next := 0 // index in want of the message the target must see next
	for i, h := range ft.all() {
		if text(h) != want[next] {
			t.Fatalf("request %d is %q while %q was not accepted yet", i, text(h), want[next])
		}
		if !h.Refused {
			next++
		}
	}
}

// A fifo relay whose target is down across a restart of the relaying server: after the
// restart the message that failed first is still first, and the target, once back, gets
// every message, in order, each once.
func TestRelayFIFOAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := ""
	if os.Getenv(apptest.BackendEnv) == "postgres" {
		dbURL = pgtest.URL(t)
	}
	slack := newFakeTool(t, chat.TargetSlack)
	var down atomic.Bool
	down.Store(true)
	slack.fail = func(_ int, w http.ResponseWriter) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	first := startOn(t, dir, dbURL)

	mkUsers(t, first)
	mkRoom(t, first, "ops")
	mkEndpoint(t, first, map[string]any{"url": slack.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend},
		"retry": map[string]any{"max_interval_s": 1}, "ordering": chat.OrderingFIFO})
	for _, m := range []string{"one", "two", "three"} {
		post(t, first, "ops", "alice", m, "")
	}
	apptest.Eventually(t, wait, "the first message refused twice", func() bool { return len(slack.all()) >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	second := apptest.Start(t, apptest.Options{DataDir: dir, Config: func(c *app.Config) { c.DatabaseURL = dbURL }})
	for _, m := range []string{"four", "five"} {
		post(t, second, "ops", "bob", m, "")
	}
	down.Store(false)
	want := []string{"*Alice*: one", "*Alice*: two", "*Alice*: three", "*Bob*: four", "*Bob*: five"}
	apptest.Eventually(t, wait, "every message after the restart", func() bool { return len(accepted(slack)) >= len(want) })
	checkFIFO(t, slack, want)
}

// startOn starts a server on the data directory dir (or the PostgreSQL database dbURL)
// that the test stops itself, to restart another on the same storage.
func startOn(t *testing.T, dir, dbURL string) *apptest.Server {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, AdminToken: apptest.AdminToken, AllowPrivateTargets: true,
		ShutdownTimeout: 5 * time.Second, Version: "test",
	}, apptest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return &apptest.Server{App: a, T: t, URL: "http://" + a.Addr(), Client: &http.Client{Timeout: 30 * time.Second}}
}
