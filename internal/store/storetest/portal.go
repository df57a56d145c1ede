package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

func testPortalLinks(t *testing.T, s chat.Store) {
	ctx := context.Background()
	l1 := chat.PortalLink{ID: "pl1", EndpointID: "ep1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	l2 := chat.PortalLink{ID: "pl2", AgentID: "bot", CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(2 * time.Hour)}
	write(t, s, func(tx chat.Tx) error { return tx.InsertPortalLink(l1) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertPortalLink(l2) })
	wantCode(t, s.Write(ctx, func(tx chat.Tx) error { return tx.InsertPortalLink(l1) }), chat.CodeAlreadyExists)

	got, err := s.GetPortalLink(ctx, "pl1")
	if err != nil || got.ID != "pl1" || got.EndpointID != "ep1" || got.AgentID != "" || !got.ExpiresAt.Equal(l1.ExpiresAt) || got.RevokedAt != nil {
		t.Fatalf("get: %v %+v", err, got)
	}
	_, err = s.GetPortalLink(ctx, "none")
	wantCode(t, err, chat.CodeNotFound)

	list, err := s.ListPortalLinks(ctx, 10)
	if err != nil || len(list) != 2 || list[0].ID != "pl2" || list[1].ID != "pl1" || list[0].AgentID != "bot" {
		t.Fatalf("list (newest first): %v %+v", err, list)
	}

	at := t0.Add(time.Minute)
	write(t, s, func(tx chat.Tx) error { return tx.RevokePortalLink("pl1", at) })
	write(t, s, func(tx chat.Tx) error { return tx.RevokePortalLink("pl1", at.Add(time.Hour)) })
	got, err = s.GetPortalLink(ctx, "pl1")
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Fatalf("revoked (first time kept): %v %+v", err, got)
	}
	wantCode(t, s.Write(ctx, func(tx chat.Tx) error { return tx.RevokePortalLink("none", at) }), chat.CodeNotFound)
}
