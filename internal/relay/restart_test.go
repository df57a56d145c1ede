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
	first := &apptest.Server{App: a, T: t, URL: "http://" + a.Addr(), Client: &http.Client{Timeout: 30 * time.Second}}
	mkUsers(t, first)
	mkRoom(t, first, "ops")
	mkEndpoint(t, first, map[string]any{"url": gchat.url(), "format": chat.TargetGoogleChat, "event_types": []string{chat.EventMessageSend}})
	root := post(t, first, "ops", "alice", "incident 8", "")
	apptest.Eventually(t, wait, "the root at Google Chat", func() bool { return len(gchat.all()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
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

// A target that is down for a while gets every message once it is back.
func TestRelayTargetDownThenBack(t *testing.T) {
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
		"retry": map[string]any{"max_interval_s": 1}})
	for _, m := range []string{"one", "two", "three"} {
		post(t, s, "ops", "alice", m, "")
	}
	apptest.Eventually(t, wait, "the target to refuse each message", func() bool { return refused.Load() >= 3 })
	down.Store(false)
	want := []string{"*Alice*: one", "*Alice*: two", "*Alice*: three"}
	apptest.Eventually(t, wait, "every message after the target is back", func() bool {
		var got []string
		for _, h := range slack.all() {
			if !h.Refused && !slices.Contains(got, text(h)) {
				got = append(got, text(h))
			}
		}
		n := 0
		for _, w := range want {
			if slices.Contains(got, w) {
				n++
			}
		}
		return n == len(want)
	})
}
