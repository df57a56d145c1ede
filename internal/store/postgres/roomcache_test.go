package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
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

// A batch of delivery outcomes, prepared with the caches as the last batch left them, costs
// one round trip: BEGIN, the batch lock, the guard, its statements and the COMMIT (see
// TestWholeBatchGuardSeesOtherNodes for posts).
func TestBatchRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{}, newRoundTrips)
	now := time.Now()
	rs := leasedDeliveries(t, s, now)
	if err := s.Write(ctx, func(tx chat.Tx) error { // begun the usual way: reads the generation and the version
		_, err := tx.EndpointRoutes()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rt.reset()
	if err := s.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	if sent := rt.trips(); len(sent) != 1 || !strings.HasPrefix(sent[0], "BEGIN | SELECT pg_advisory_xact_lock") || !strings.Contains(sent[0], "chathooks_batch_guard") ||
		!strings.Contains(sent[0], "delivery_attempts") || !strings.Contains(sent[0], "UPDATE deliveries") || !strings.HasSuffix(sent[0], "COMMIT") {
		t.Fatalf("delivery outcomes: %d round trips %q; want one: BEGIN, the lock, the guard, the statements, COMMIT", len(sent), sent)
	}
	d, err := s.GetDelivery(ctx, "d1")
	if err != nil || d.Status != chat.DeliverySucceeded {
		t.Fatalf("d1: %+v %v", d, err)
	}
}

// The rooms a batch's posts name are read in one statement at the start of the batch:
// five posts to five rooms not yet cached cost one round trip for all their rooms, and
// each reads its own room and agents.
func TestBatchReadsItsRoomsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now()
	rooms := []string{"r0", "r1", "r2", "r3", "r4"}
	if err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "bot", Name: "bot", Kind: chat.KindAgent, CreatedAt: now}); err != nil {
			return err
		}
		for _, id := range rooms {
			if err := tx.InsertRoom(chat.Room{ID: id, Name: "name " + id, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return tx.InsertMember("r3", "bot", now) // changes room data: the cache starts empty
	}); err != nil {
		t.Fatal(err)
	}
	// The writer holds the gate's batch until the five posts queue behind it.
	entered, release, gateDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		gateDone <- s.Write(ctx, func(chat.Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	type read struct {
		name   string
		agents string
		err    error
	}
	got := make([]read, len(rooms))
	done := make(chan int, len(rooms))
	for i, id := range rooms {
		go func() {
			err := s.Write(chat.WithPost(ctx, id, ""), func(tx chat.Tx) error {
				room, agents, err := tx.RoomForPost(id)
				got[i] = read{room.Name, fmt.Sprint(agents), err}
				return err
			})
			if err != nil {
				got[i].err = err
			}
			done <- i
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Queued() < len(rooms) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d posts queued", s.Queued(), len(rooms))
		}
		time.Sleep(100 * time.Microsecond) // polling the queue length, with a deadline
	}
	rt.reset() // the writer is inside the gate: it sends nothing until released
	close(release)
	if err := <-gateDone; err != nil {
		t.Fatal(err)
	}
	for range rooms {
		<-done
	}
	for i, id := range rooms {
		want := read{name: "name " + id, agents: "[]"}
		if id == "r3" {
			want.agents = "[bot]"
		}
		if got[i] != want {
			t.Errorf("%s: read %+v, want %+v", id, got[i], want)
		}
	}
	// The gate's batch commits (1), then the posts' batch: BEGIN with the lock and the
	// generation, the rooms, COMMIT.
	if sent := rt.trips(); len(sent) != 4 || !strings.Contains(sent[2], "unnest(") {
		t.Fatalf("%d round trips %q; want the gate's COMMIT, then BEGIN, one read of the rooms, COMMIT", len(sent), sent)
	}
}

// Two nodes on one database: what a user's post on node A reads of its sender follows every
// change node B makes, at once (the room cache generation).
func TestUserInRoomAcrossNodes(t *testing.T) {
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
	want := func(member bool, missing bool) {
		t.Helper()
		for range 3 { // the cache is filled by the first read, then used
			var u chat.User
			var got bool
			err := a.Write(ctx, func(tx chat.Tx) error {
				var err error
				u, got, err = tx.UserInRoom("r", "u")
				return err
			})
			if missing {
				if !chat.IsCode(err, chat.CodeNotFound) {
					t.Fatalf("node A reads a deleted user: %v", err)
				}
				continue
			}
			if err != nil || u.Name != "Una" || got != member {
				t.Fatalf("node A reads %v %+v member %v, want member %v", err, u, got, member)
			}
		}
	}
	write(b, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "u", Name: "Una", Kind: chat.KindHuman, CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "one", CreatedAt: now, UpdatedAt: now})
	})
	want(false, false)
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) })
	want(true, false)
	write(b, func(tx chat.Tx) error { return tx.DeleteMember("r", "u") })
	want(false, false)
	write(b, func(tx chat.Tx) error { return tx.InsertMember("r", "u", now) })
	want(true, false)
	write(b, func(tx chat.Tx) error { return tx.DeleteUser("u") })
	want(false, true)
}

// The senders of a batch's user posts are read in one statement at the start of the batch,
// as their rooms are; once cached, a user's post is sent whole, in one round trip.
func TestBatchReadsItsSendersAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	now := time.Now()
	rooms := []string{"r0", "r1", "r2", "r3", "r4"}
	if err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "u", Name: "Una", Kind: chat.KindHuman, CreatedAt: now}); err != nil {
			return err
		}
		for _, id := range rooms {
			if err := tx.InsertRoom(chat.Room{ID: id, Name: "name " + id, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		if err := tx.InsertMember("r1", "u", now); err != nil {
			return err
		}
		return tx.InsertMember("r3", "u", now) // changes room data: the cache starts empty
	}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	post := func(id string) (string, error) {
		var got string
		err := s.Write(chat.WithPost(ctx, id, "u"), func(tx chat.Tx) error {
			room, _, err := tx.RoomForPost(id)
			if err != nil {
				return err
			}
			u, member, err := tx.UserInRoom(id, "u")
			if err != nil {
				return err
			}
			got = fmt.Sprintf("%s %s %v", room.Name, u.Name, member)
			return tx.AppendEvent(&chat.Event{ID: fmt.Sprintf("evt_%s_%d", id, n.Add(1)), Type: chat.EventMessageSend, RoomID: id, CreatedAt: now, Payload: []byte(`{}`)})
		})
		return got, err
	}
	// The writer holds the gate's batch until the five posts queue behind it.
	entered, release, gateDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		gateDone <- s.Write(ctx, func(chat.Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	got, errs := make([]string, len(rooms)), make([]error, len(rooms))
	done := make(chan int, len(rooms))
	for i, id := range rooms {
		go func() {
			got[i], errs[i] = post(id)
			done <- i
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Queued() < len(rooms) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d posts queued", s.Queued(), len(rooms))
		}
		time.Sleep(100 * time.Microsecond) // polling the queue length, with a deadline
	}
	rt.reset() // the writer is inside the gate: it sends nothing until released
	close(release)
	if err := <-gateDone; err != nil {
		t.Fatal(err)
	}
	for range rooms {
		<-done
	}
	want := func(id string) string {
		return fmt.Sprintf("name %s Una %v", id, id == "r1" || id == "r3")
	}
	for i, id := range rooms {
		if errs[i] != nil || got[i] != want(id) {
			t.Errorf("%s: read %q %v, want %q", id, got[i], errs[i], want(id))
		}
	}
	// The gate's batch commits (1), then the posts' batch: BEGIN with the lock and the
	// generation, the rooms, the senders, then the statements with COMMIT.
	if sent := rt.trips(); len(sent) != 5 || !strings.Contains(sent[2], "unnest(") || !strings.Contains(sent[3], "unnest(") || !strings.Contains(sent[3], "members") {
		t.Fatalf("%d round trips %q; want the gate's COMMIT, then BEGIN, one read of the rooms, one of the senders, COMMIT", len(sent), sent)
	}
	// Now cached: each post is one round trip, with no read in it.
	for _, id := range rooms {
		rt.reset()
		if got, err := post(id); err != nil || got != want(id) {
			t.Fatalf("%s again: read %q %v, want %q", id, got, err, want(id))
		}
		if sent := rt.trips(); len(sent) != 1 || strings.Contains(sent[0], "FROM users") || !strings.HasPrefix(sent[0], "BEGIN") || !strings.HasSuffix(sent[0], "COMMIT") {
			t.Fatalf("%s again: %d round trips %q; want one: BEGIN, the lock, the guard, the statement, COMMIT", id, len(sent), sent)
		}
	}
}
