package chat_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
)

// countingStore is the real SQLite store, counting webhook reads and running a hook
// right after GetWebhook has read (to force an interleaving).
type countingStore struct {
	chat.Store
	reads     atomic.Int64
	afterRead func()
}

func (c *countingStore) GetWebhook(ctx context.Context, id string) (chat.Webhook, error) {
	c.reads.Add(1)
	w, err := c.Store.GetWebhook(ctx, id)
	if h := c.afterRead; h != nil {
		c.afterRead = nil
		h()
	}
	return w, err
}

func (c *countingStore) WebhookByTokenHash(ctx context.Context, hash string) (chat.Webhook, error) {
	c.reads.Add(1)
	return c.Store.WebhookByTokenHash(ctx, hash)
}

func newCacheService(t *testing.T, ttl time.Duration) (*chat.Service, *countingStore, *clock.Fake) {
	t.Helper()
	st := openSQLite(t)
	cs := &countingStore{Store: st}
	clk := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	svc := chat.NewService(chat.Config{Store: cs, Renderer: plainRenderer{}, Clock: clk, WebhookAuthTTL: ttl})
	if _, err := svc.CreateRoom(context.Background(), chat.CreateRoom{ID: "r", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	return svc, cs, clk
}

func mustAuth(t *testing.T, svc *chat.Service, id, tok string) {
	t.Helper()
	if w, err := svc.AuthenticateWebhook(context.Background(), id, tok); err != nil || (id != "" && w.ID != id) {
		t.Fatalf("authenticate %q: %+v %v", id, w, err)
	}
}

func mustFail(t *testing.T, svc *chat.Service, id, tok string, want error) {
	t.Helper()
	if w, err := svc.AuthenticateWebhook(context.Background(), id, tok); !errors.Is(err, want) {
		t.Fatalf("authenticate %q: %+v %v, want %v", id, w, err, want)
	}
}

// A token lookup is read once, then served from the cache (by id and by token alone), and
// the cache never outlives regenerate, delete or room deletion.
func TestWebhookAuthCacheExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, cs, _ := newCacheService(t, 0)
	w1, tok1, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: "r", Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	mustAuth(t, svc, w1.ID, tok1)
	before := cs.reads.Load()
	for range 3 {
		mustAuth(t, svc, w1.ID, tok1)
		mustAuth(t, svc, "", tok1)
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Fatalf("%d webhook reads after the first lookup, want 0", n)
	}
	// A cached token does not open another webhook's URL.
	mustFail(t, svc, "wh_other", tok1, chat.ErrWebhookUnknown)

	_, tok1b, err := svc.RegenerateWebhook(ctx, w1.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, svc, w1.ID, tok1, chat.ErrWebhookRevoked)
	mustFail(t, svc, "", tok1, chat.ErrWebhookRevoked)
	mustAuth(t, svc, w1.ID, tok1b)

	if err := svc.DeleteWebhook(ctx, w1.ID); err != nil {
		t.Fatal(err)
	}
	mustFail(t, svc, w1.ID, tok1b, chat.ErrWebhookRevoked)

	w2, tok2, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: "r", Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	mustAuth(t, svc, "", tok2)
	if err := svc.DeleteRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	mustFail(t, svc, w2.ID, tok2, chat.ErrWebhookRoomDeleted)
}

// A lookup that read the webhook before a regenerate committed does not cache what it
// read: the regenerate runs between the lookup's read and its return.
func TestWebhookAuthCacheRaceWithRegenerate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, cs, _ := newCacheService(t, 0)
	w, tok, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: "r", Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	regenerated := false
	cs.afterRead = func() {
		if _, _, err := svc.RegenerateWebhook(ctx, w.ID); err != nil {
			t.Error(err)
		}
		regenerated = true
	}
	// This lookup read the old token before the regenerate and may answer with it (the
	// two were concurrent) ...
	mustAuth(t, svc, w.ID, tok)
	if !regenerated {
		t.Fatal("the hook did not run")
	}
	// ... but every lookup after the regenerate returned sees it.
	mustFail(t, svc, w.ID, tok, chat.ErrWebhookRevoked)
	mustFail(t, svc, "", tok, chat.ErrWebhookRevoked)
}

// With a TTL (several nodes), a change another node makes (here: written to the store
// directly, past this service) is seen once the entry is older than the TTL; entries are
// trusted for at least half of it (each expires at a random time in the second half).
func TestWebhookAuthCacheTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, cs, clk := newCacheService(t, time.Second)
	w, tok, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: "r", Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	mustAuth(t, svc, w.ID, tok)
	if err := cs.Store.Write(ctx, func(tx chat.Tx) error { return tx.DeleteWebhook(w.ID, clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(499 * time.Millisecond)
	mustAuth(t, svc, w.ID, tok) // still trusted: within the first half of the TTL
	clk.Advance(501 * time.Millisecond)
	mustFail(t, svc, w.ID, tok, chat.ErrWebhookRevoked) // the documented bound
}

// A negative TTL turns the cache off: every lookup reads the database.
func TestWebhookAuthCacheOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, cs, _ := newCacheService(t, -1)
	w, tok, err := svc.CreateWebhook(ctx, chat.CreateWebhook{RoomID: "r", Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	before := cs.reads.Load()
	mustAuth(t, svc, w.ID, tok)
	mustAuth(t, svc, w.ID, tok)
	if n := cs.reads.Load() - before; n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
}
