package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

func hook(id, room string) chat.Webhook {
	return chat.Webhook{ID: id, RoomID: room, Name: "Hook " + id, AvatarURL: "https://example.com/" + id + ".png", TokenHash: "hash-" + id, CreatedAt: t0}
}

func testWebhooks(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r1")
	setupRoom(t, s, "r2")
	write(t, s, func(tx chat.Tx) error { return tx.InsertWebhook(hook("w1", "r1"), 10) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertWebhook(hook("w2", "r1"), 10) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertWebhook(hook("w3", "r2"), 10) })

	err := s.Write(ctx, func(tx chat.Tx) error { return tx.InsertWebhook(hook("w9", "nope"), 10) })
	wantCode(t, err, chat.CodeNotFound)
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.InsertWebhook(hook("w1", "r2"), 10) })
	wantCode(t, err, chat.CodeAlreadyExists)
	dup := hook("w8", "r2")
	dup.TokenHash = "hash-w1"
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.InsertWebhook(dup, 10) })
	wantCode(t, err, chat.CodeAlreadyExists)

	w, err := s.GetWebhook(ctx, "w1")
	if err != nil || w != hook("w1", "r1") {
		t.Fatalf("get: %v %+v", err, w)
	}
	w, err = s.WebhookByTokenHash(ctx, "hash-w3")
	if err != nil || w.ID != "w3" || w.RoomID != "r2" {
		t.Fatalf("by token hash: %v %+v", err, w)
	}
	_, err = s.WebhookByTokenHash(ctx, "hash-none")
	wantCode(t, err, chat.CodeNotFound)
	_, err = s.GetWebhook(ctx, "none")
	wantCode(t, err, chat.CodeNotFound)
	list, err := s.ListWebhooks(ctx, "r1")
	if err != nil || len(list) != 2 || list[0].ID != "w1" || list[1].ID != "w2" {
		t.Fatalf("list: %v %+v", err, list)
	}
	list, err = s.ListWebhooks(ctx, "empty")
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("list of unknown room: %v %#v", err, list)
	}
	write(t, s, func(tx chat.Tx) error {
		w, err := tx.GetWebhook("w2")
		if err != nil || w.Name != "Hook w2" {
			return fmt.Errorf("tx get: %v %+v", err, w)
		}
		return nil
	})

	// Regenerate: the old hash is remembered, the new one opens the webhook.
	_, err = s.RevokedWebhookToken(ctx, "hash-w1")
	wantCode(t, err, chat.CodeNotFound)
	at := t0.Add(1000)
	write(t, s, func(tx chat.Tx) error { return tx.SetWebhookToken("w1", "hash-w1b", at) })
	rv, err := s.RevokedWebhookToken(ctx, "hash-w1")
	if err != nil || rv.WebhookID != "w1" || rv.RoomID != "r1" || rv.Reason != chat.RevokedRegenerated || !rv.RevokedAt.Equal(at) {
		t.Fatalf("revoked after regenerate: %v %+v", err, rv)
	}
	if w, err := s.WebhookByTokenHash(ctx, "hash-w1b"); err != nil || w.ID != "w1" {
		t.Fatalf("new token: %v %+v", err, w)
	}
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.SetWebhookToken("none", "x", at) })
	wantCode(t, err, chat.CodeNotFound)

	// Delete: gone, token remembered.
	write(t, s, func(tx chat.Tx) error { return tx.DeleteWebhook("w2", at) })
	_, err = s.GetWebhook(ctx, "w2")
	wantCode(t, err, chat.CodeNotFound)
	if rv, err := s.RevokedWebhookToken(ctx, "hash-w2"); err != nil || rv.Reason != chat.RevokedDeleted || rv.WebhookID != "w2" {
		t.Fatalf("revoked after delete: %v %+v", err, rv)
	}
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.DeleteWebhook("w2", at) })
	wantCode(t, err, chat.CodeNotFound)

	// Room deletion cascades to its webhooks; revoked tokens outlive both.
	write(t, s, func(tx chat.Tx) error {
		if err := tx.RevokeRoomWebhooks("r1", at); err != nil {
			return err
		}
		return tx.DeleteRoom("r1")
	})
	_, err = s.GetWebhook(ctx, "w1")
	wantCode(t, err, chat.CodeNotFound)
	if rv, err := s.RevokedWebhookToken(ctx, "hash-w1b"); err != nil || rv.Reason != chat.RevokedRoomDeleted || rv.RoomID != "r1" {
		t.Fatalf("revoked after room delete: %v %+v", err, rv)
	}
	if rv, err := s.RevokedWebhookToken(ctx, "hash-w1"); err != nil || rv.Reason != chat.RevokedRegenerated {
		t.Fatalf("earlier revocation overwritten: %v %+v", err, rv)
	}
	if rv, err := s.RevokedWebhookToken(ctx, "hash-w2"); err != nil || rv.Reason != chat.RevokedDeleted {
		t.Fatalf("revocation lost with the room: %v %+v", err, rv)
	}
	// Even without an explicit revocation, deleting a room deletes its webhooks.
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("r2") })
	_, err = s.WebhookByTokenHash(ctx, "hash-w3")
	wantCode(t, err, chat.CodeNotFound)
}

// testWebhookLimit checks that the per-room limit holds under concurrent inserts (several
// writers on engines that have them).
func testWebhookLimit(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "lim")
	var wg sync.WaitGroup
	errs := make([]error, 25)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, func(tx chat.Tx) error { return tx.InsertWebhook(hook(fmt.Sprintf("c%02d", i), "lim"), 10) })
		}()
	}
	wg.Wait()
	ok, limited := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case chat.IsCode(err, chat.CodeLimitExceeded):
			limited++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	list, err := s.ListWebhooks(ctx, "lim")
	if ok != 10 || limited != 15 || err != nil || len(list) != 10 {
		t.Fatalf("ok %d limited %d listed %d (%v), want 10/15/10", ok, limited, len(list), err)
	}
}
