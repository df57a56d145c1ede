package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

// roomForPost reads a room as a post does, in a write of its own.
func roomForPost(t *testing.T, s chat.Store, id string) (chat.Room, []string, error) {
	t.Helper()
	var room chat.Room
	var agents []string
	var rerr error
	write(t, s, func(tx chat.Tx) error {
		room, agents, rerr = tx.RoomForPost(id)
		return nil
	})
	return room, agents, rerr
}

// wantRoomForPost fails unless a post reads the room with this name, member count and
// agents.
func wantRoomForPost(t *testing.T, s chat.Store, id, name string, members int, agents ...string) {
	t.Helper()
	room, got, err := roomForPost(t, s, id)
	if err != nil || room.Name != name || room.MemberCount != members || fmt.Sprint(got) != fmt.Sprint(agents) {
		t.Fatalf("room for a post: %v %+v agents %v; want %q, %d members, agents %v", err, room, got, name, members, agents)
	}
}

// testRoomForPost: what a post reads of its room is always current, however often it is
// read (a store may cache it): renames, members joining and leaving, a rolled-back change,
// a change earlier in the same transaction, a deleted room.
func testRoomForPost(t *testing.T, s chat.Store) {
	setupRoom(t, s, "rp", user("rp-a1", chat.KindAgent), user("rp-h", chat.KindHuman))
	for range 3 {
		wantRoomForPost(t, s, "rp", "Room rp", 2, "rp-a1")
	}
	write(t, s, func(tx chat.Tx) error {
		return tx.UpdateRoom(chat.Room{ID: "rp", Name: "Renamed", UpdatedAt: t0})
	})
	wantRoomForPost(t, s, "rp", "Renamed", 2, "rp-a1")
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("rp-a2", chat.KindAgent)) })
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertMember("rp", "rp-a2", t0); err != nil {
			return err
		}
		room, agents, err := tx.RoomForPost("rp") // sees the change made before it
		if err != nil || room.MemberCount != 3 || fmt.Sprint(agents) != "[rp-a1 rp-a2]" {
			return fmt.Errorf("in the changing transaction: %v %+v %v", err, room, agents)
		}
		return nil
	})
	wantRoomForPost(t, s, "rp", "Renamed", 3, "rp-a1", "rp-a2")
	// A change that is rolled back is not seen.
	errUndo := errors.New("undo")
	err := s.Write(t.Context(), func(tx chat.Tx) error {
		if err := tx.DeleteMember("rp", "rp-a1"); err != nil {
			return err
		}
		return errUndo
	})
	if !errors.Is(err, errUndo) {
		t.Fatalf("rolled-back write: %v", err)
	}
	wantRoomForPost(t, s, "rp", "Renamed", 3, "rp-a1", "rp-a2")
	write(t, s, func(tx chat.Tx) error { return tx.DeleteMember("rp", "rp-a1") })
	wantRoomForPost(t, s, "rp", "Renamed", 2, "rp-a2")
	write(t, s, func(tx chat.Tx) error { return tx.DeleteUser("rp-a2") })
	stored, err := s.GetRoom(t.Context(), "rp")
	if err != nil {
		t.Fatal(err)
	}
	wantRoomForPost(t, s, "rp", "Renamed", stored.MemberCount) // the membership went with the user
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("rp") })
	if _, _, err := roomForPost(t, s, "rp"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("deleted room: %v", err)
	}
}
