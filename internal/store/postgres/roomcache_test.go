package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// Two nodes on one database, two writers each: what a post on node A reads of its room
// follows every change node B makes, at once (the room cache generation), with no
// notification involved.
func TestRoomForPostAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, b := openNode(t, url, "node-a", 2), openNode(t, url, "node-b", 2)
	ctx := context.Background()
	now := time.Now()
	write := func(s *sqlstore.Store, fn func(chat.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	want := func(name string, agents string) {
		t.Helper()
		for range 3 { // the cache is filled by the first read, then used
			var room chat.Room
			var got []string
			write(a, func(tx chat.Tx) error {
				var err error
				room, got, err = tx.RoomForPost("r")
				return err
			})
			if room.Name != name || fmt.Sprint(got) != agents {
				t.Fatalf("node A reads %q %v, want %q %s", room.Name, got, name, agents)
			}
		}
	}
	write(b, func(tx chat.Tx) error {
		for _, id := range []string{"x1", "x2"} {
			if err := tx.InsertUser(chat.User{ID: id, Name: id, Kind: chat.KindAgent, CreatedAt: now}); err != nil {
				return err
			}
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "one", CreatedAt: now, UpdatedAt: now})
	})
	want("one", "[]")
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "x1", now) })
	want("one", "[x1]")
	write(b, func(tx chat.Tx) error { return tx.UpdateRoom(chat.Room{ID: "r", Name: "two", UpdatedAt: now}) })
	want("two", "[x1]")
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "x2", now) })
	write(a, func(tx chat.Tx) error { return tx.DeleteMember("r", "x1") }) // A's own change
	want("two", "[x2]")
}
