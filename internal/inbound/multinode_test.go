package inbound_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// Two nodes share PostgreSQL: a webhook regenerated or deleted through node A stops
// working at once on A and, as soon as A's commit notification reaches B, on B (well
// before B's cached token lookup would expire, a minute after it was read); the new token
// works on B at once.
func TestWebhookChangesReachOtherNode(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	opts := apptest.Options{Config: func(c *app.Config) { c.DatabaseURL = dbURL }}
	a, b := apptest.Start(t, opts), apptest.Start(t, opts)
	a.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R"})
	var h hook
	a.Must(201, "POST", "/api/v1/rooms/r/webhooks", map[string]any{"name": "alerts"}).JSON(t, &h)
	on := func(s *apptest.Server, u string) string { return strings.Replace(u, a.URL, s.URL, 1) }
	if r := post(t, on(b, h.URLs.Chime), "", `{"Content":"via b"}`); r.Status != 200 {
		t.Fatalf("post via b: %d %s", r.Status, r.Body)
	}

	var re hook
	a.Must(200, "POST", "/api/v1/webhooks/"+h.ID+"/regenerate", nil).JSON(t, &re)
	if r := post(t, on(a, h.URLs.Chime), "", `{"Content":"x"}`); r.Status != 404 {
		t.Fatalf("old token via a: %d %s", r.Status, r.Body)
	}
	if r := post(t, on(b, re.URLs.Chime), "", `{"Content":"x"}`); r.Status != 200 {
		t.Fatalf("new token via b: %d %s", r.Status, r.Body)
	}
	apptest.Eventually(t, 30*time.Second, "old token refused by b", func() bool {
		return post(t, on(b, h.URLs.Chime), "", `{"Content":"x"}`).Status == 404
	})

	a.Must(204, "DELETE", "/api/v1/webhooks/"+h.ID, nil)
	apptest.Eventually(t, 30*time.Second, "deleted webhook refused by b", func() bool {
		return post(t, on(b, re.URLs.Chime), "", `{"Content":"x"}`).Status == 404
	})
}
