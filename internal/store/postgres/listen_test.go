package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// openNode opens the store of a node named node on the database at url, with writers
// writer connections, closed when the test ends.
func openNode(t *testing.T, url, node string, writers int) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{Options: sqlstore.Options{NodeID: node}, Writers: writers, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two nodes on one database: node B hears about rooms node A wrote events to, and not
// about its own.
func TestListenAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, b := openNode(t, url, "node-a", 1), openNode(t, url, "node-b", 1)
	var mu sync.Mutex
	var heard []string
	got := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connects := 0
	go postgres.Listen(ctx, url, "node-b", slog.New(slog.NewTextHandler(io.Discard, nil)), func(rooms []string) {
		mu.Lock()
		if rooms == nil {
			connects++ // listening: catch up on what was committed before
		}
		heard = append(heard, rooms...)
		mu.Unlock()
		got <- struct{}{}
	})
	// Wait until the listener is subscribed: a notification sent from B itself is skipped,
	// so use a probe loop from A on a dedicated room until it is heard.
	now := time.Now()
	for _, s := range []*sqlstore.Store{a} {
		err := s.Write(ctx, func(tx chat.Tx) error {
			for _, r := range []string{"probe", "r1", "r2", "own"} {
				if err := tx.InsertRoom(chat.Room{ID: r, Name: r, CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendEvent := func(s *sqlstore.Store, rooms ...string) {
		t.Helper()
		err := s.Write(ctx, func(tx chat.Tx) error {
			for _, r := range rooms {
				if err := tx.AppendEvent(&chat.Event{ID: "evt_" + r + time.Now().Format("150405.000000000"), Type: chat.EventRoomChanged, RoomID: r, CreatedAt: now, Payload: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
probe:
	for {
		appendEvent(a, "probe")
		select {
		case <-got:
			break probe
		case <-tick.C:
		case <-deadline:
			t.Fatal("listener never heard node A")
		}
	}
	mu.Lock()
	heard = nil
	mu.Unlock()
	// PostgreSQL delivers notifications in commit order: B's own room is committed first, so
	// by the time A's rooms are heard, B's would have been too had it not been skipped.
	appendEvent(b, "own")
	appendEvent(a, "r1", "r2", "r1")
	has := func(room string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range heard {
			if r == room {
				return true
			}
		}
		return false
	}
	deadline = time.After(10 * time.Second)
	for !has("r1") || !has("r2") {
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("no notification for r1, r2; heard %v", heard)
		}
	}
	if has("own") {
		t.Fatalf("node B heard its own commit: %v", heard)
	}
	mu.Lock()
	defer mu.Unlock()
	if connects != 1 {
		t.Fatalf("the listener reported %d connects, want 1 (the first one too)", connects)
	}
}
