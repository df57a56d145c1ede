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

// userInRoom reads a sender as a user's post does, in a write of its own.
func userInRoom(t *testing.T, s chat.Store, room, id string) (chat.User, bool, error) {
	t.Helper()
	var u chat.User
	var member bool
	var rerr error
	write(t, s, func(tx chat.Tx) error {
		u, member, rerr = tx.UserInRoom(room, id)
		return nil
	})
	return u, member, rerr
}

// wantUserInRoom fails unless a post reads the user (by name) with this membership.
func wantUserInRoom(t *testing.T, s chat.Store, room, id string, member bool) {
	t.Helper()
	u, got, err := userInRoom(t, s, room, id)
	if err != nil || u.ID != id || u.Name != "N "+id || u.Kind != chat.KindHuman || u.Present || got != member {
		t.Fatalf("user %s in room %s: %v %+v member %v; want the user, member %v", id, room, err, u, got, member)
	}
}

// testUserInRoom: what a user's post reads of its sender is always current, however often
// it is read (a store may cache it): members joining and leaving, a rolled-back change, a
// change earlier in the same transaction, a deleted user or room.
func testUserInRoom(t *testing.T, s chat.Store) {
	setupRoom(t, s, "ur", user("ur-in", chat.KindHuman))
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("ur-out", chat.KindHuman)) })
	for range 3 {
		wantUserInRoom(t, s, "ur", "ur-in", true)
		wantUserInRoom(t, s, "ur", "ur-out", false)
		if _, _, err := userInRoom(t, s, "ur", "ur-nobody"); !chat.IsCode(err, chat.CodeNotFound) {
			t.Fatalf("a user who does not exist: %v", err)
		}
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteMember("ur", "ur-in") })
	wantUserInRoom(t, s, "ur", "ur-in", false)
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertMember("ur", "ur-out", t0); err != nil {
			return err
		}
		_, member, err := tx.UserInRoom("ur", "ur-out") // sees the change made before it
		if err != nil || !member {
			return fmt.Errorf("in the changing transaction: %v member %v", err, member)
		}
		return nil
	})
	wantUserInRoom(t, s, "ur", "ur-out", true)
	// A change that is rolled back is not seen.
	errUndo := errors.New("undo")
	if err := s.Write(t.Context(), func(tx chat.Tx) error {
		if err := tx.DeleteMember("ur", "ur-out"); err != nil {
			return err
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatalf("rolled-back write: %v", err)
	}
	wantUserInRoom(t, s, "ur", "ur-out", true)
	write(t, s, func(tx chat.Tx) error { return tx.DeleteUser("ur-out") })
	if _, _, err := userInRoom(t, s, "ur", "ur-out"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
	write(t, s, func(tx chat.Tx) error { return tx.InsertMember("ur", "ur-in", t0) })
	wantUserInRoom(t, s, "ur", "ur-in", true)
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("ur") })
	wantUserInRoom(t, s, "ur", "ur-in", false) // the membership went with the room
}

// testRolledBackInserts: a room and a user inserted by a transaction that rolls back are
// read by that transaction as a post would read them, and by no one after it (a store
// that caches what posts read must not remember them).
func testRolledBackInserts(t *testing.T, s chat.Store) {
	setupRoom(t, s, "rb", user("rb-in", chat.KindHuman))
	wantUserInRoom(t, s, "rb", "rb-in", true)
	errUndo := errors.New("undo")
	if err := s.Write(t.Context(), func(tx chat.Tx) error {
		if err := tx.InsertRoom(chat.Room{ID: "rb-ghost", Name: "Ghost", CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.InsertUser(user("rb-ghost-user", chat.KindHuman)); err != nil {
			return err
		}
		for range 2 {
			if room, _, err := tx.RoomForPost("rb-ghost"); err != nil || room.Name != "Ghost" {
				return fmt.Errorf("the inserting transaction reads the room: %v %+v", err, room)
			}
			if u, member, err := tx.UserInRoom("rb", "rb-ghost-user"); err != nil || u.ID != "rb-ghost-user" || member {
				return fmt.Errorf("the inserting transaction reads the user: %v %+v %v", err, u, member)
			}
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatalf("rolled-back write: %v", err)
	}
	if _, _, err := roomForPost(t, s, "rb-ghost"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("a room whose insert was rolled back: %v", err)
	}
	if _, _, err := userInRoom(t, s, "rb", "rb-ghost-user"); !chat.IsCode(err, chat.CodeNotFound) {
		t.Fatalf("a user whose insert was rolled back: %v", err)
	}
	wantUserInRoom(t, s, "rb", "rb-in", true)
}
