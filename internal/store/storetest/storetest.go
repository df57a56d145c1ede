// Package storetest is the storage conformance suite: every chat.Store implementation
// runs Run from its own tests against a real database.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Factory opens a fresh, empty store for one test; the suite closes it.
type Factory func(t *testing.T) chat.Store

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func write(t *testing.T, s chat.Store, fn func(chat.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func wantCode(t *testing.T, err error, code chat.Code) {
	t.Helper()
	if chat.ErrorCode(err) != code {
		t.Fatalf("got error %v (code %s), want code %s", err, chat.ErrorCode(err), code)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, open Factory) {
	tests := map[string]func(*testing.T, chat.Store){
		"Users":           testUsers,
		"Presence":        testPresence,
		"RoomsAndMembers": testRoomsAndMembers,
		"Messages":        testMessages,
		"Events":          testEvents, "EventPosBefore": testEventPosBefore,
		"ErrorIsolation":    testErrorIsolation,
		"ConcurrentWrites":  testConcurrentWrites,
		"ThreadsAndIdempot": testThreadsAndIdempotency,
		"Blocks":            testBlocks,
		"Settings":          testSettings,
		"Webhooks":          testWebhooks, "WebhookLimit": testWebhookLimit,
		"Deliveries": testDeliveries, "DeliveryCursorGone": testDeliveryCursorGone, "Relay": testRelay, "PortalLinks": testPortalLinks,
		"RoomAgentsInTx": testRoomAgentsInTx, "StatementErrors": testStatementErrors,
		"RoomForPost": testRoomForPost, "UserInRoom": testUserInRoom, "RolledBackInserts": testRolledBackInserts, "Ordered": testOrdered, "AlertState": testAlertState,
		"Retention": testRetention, "RetentionSteps": testRetentionSteps, "RetentionClockAhead": testRetentionClockAhead,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			fn(t, s)
		})
	}
}

func user(id string, kind chat.UserKind) chat.User {
	return chat.User{ID: id, Name: "N " + id, Alias: "a" + id, Email: id + "@example.com", Kind: kind, CreatedAt: t0}
}

func testUsers(t *testing.T, s chat.Store) {
	ctx := context.Background()
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("u1", chat.KindHuman)) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("u2", chat.KindAgent)) })
	err := s.Write(ctx, func(tx chat.Tx) error { return tx.InsertUser(user("u1", chat.KindHuman)) })
	wantCode(t, err, chat.CodeAlreadyExists)
	u, err := s.GetUser(ctx, "u2", t0)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "N u2" || u.Kind != chat.KindAgent || u.Alias != "au2" || u.Email != "u2@example.com" || !u.CreatedAt.Equal(t0) || u.Present {
		t.Fatalf("got %+v", u)
	}
	list, err := s.ListUsers(ctx, "", 10, t0)
	if err != nil || len(list) != 2 || list[0].ID != "u1" {
		t.Fatalf("list: %v %+v", err, list)
	}
	list, _ = s.ListUsers(ctx, "u1", 10, t0)
	if len(list) != 1 || list[0].ID != "u2" {
		t.Fatalf("list after u1: %+v", list)
	}
	_, err = s.GetUser(ctx, "nope", t0)
	wantCode(t, err, chat.CodeNotFound)
	write(t, s, func(tx chat.Tx) error { return tx.DeleteUser("u1") })
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.DeleteUser("u1") })
	wantCode(t, err, chat.CodeNotFound)
}

func testPresence(t *testing.T, s chat.Store) {
	ctx := context.Background()
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("p", chat.KindHuman)) })
	present := func(now time.Time) bool {
		u, err := s.GetUser(ctx, "p", now)
		if err != nil {
			t.Fatal(err)
		}
		return u.Present
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetPresence("p", true, t0.Add(time.Minute)) })
	if !present(t0) || present(t0.Add(time.Minute+time.Second)) {
		t.Fatal("explicit presence with expiry wrong")
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetPresence("p", true, time.Time{}) })
	if !present(t0.Add(1000 * time.Hour)) {
		t.Fatal("presence without expiry expired")
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetPresence("p", false, time.Time{}) })
	if present(t0) {
		t.Fatal("presence false still present")
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetStreamPresence("n1", "p", t0.Add(time.Minute)) })
	write(t, s, func(tx chat.Tx) error { return tx.SetStreamPresence("n2", "p", t0.Add(2*time.Minute)) })
	if !present(t0.Add(90 * time.Second)) {
		t.Fatal("stream lease of n2 not counted")
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetStreamPresence("n2", "p", time.Time{}) })
	if present(t0.Add(90*time.Second)) || !present(t0) {
		t.Fatal("stream lease removal wrong")
	}
}

func setupRoom(t *testing.T, s chat.Store, room string, members ...chat.User) {
	t.Helper()
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertRoom(chat.Room{ID: room, Name: "Room " + room, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		for _, u := range members {
			if err := tx.InsertUser(u); err != nil && !chat.IsCode(err, chat.CodeAlreadyExists) {
				return err
			}
			if err := tx.InsertMember(room, u.ID, t0); err != nil {
				return err
			}
		}
		return nil
	})
}

func testRoomsAndMembers(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r1", user("a", chat.KindHuman), user("b", chat.KindAgent), user("c", chat.KindAgent))
	r, err := s.GetRoom(ctx, "r1")
	if err != nil || r.MemberCount != 3 || r.Name != "Room r1" {
		t.Fatalf("room: %v %+v", err, r)
	}
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.InsertMember("r1", "a", t0) })
	wantCode(t, err, chat.CodeAlreadyExists)
	var agents []string
	var isMember bool
	write(t, s, func(tx chat.Tx) error {
		var err error
		if agents, err = tx.RoomAgents("r1"); err != nil {
			return err
		}
		isMember, err = tx.IsMember("r1", "a")
		return err
	})
	if fmt.Sprint(agents) != "[b c]" || !isMember {
		t.Fatalf("agents %v member %v", agents, isMember)
	}
	ms, err := s.ListMembers(ctx, "r1", "", 2, t0)
	if err != nil || len(ms) != 2 || ms[0].ID != "a" || ms[1].ID != "b" || !ms[0].JoinedAt.Equal(t0) {
		t.Fatalf("members: %v %+v", err, ms)
	}
	// Every member as a user with presence, read on the read pool and in a transaction
	// alike; a room that does not exist has none.
	write(t, s, func(tx chat.Tx) error { return tx.SetPresence("a", true, time.Time{}) })
	var inTx []chat.User
	write(t, s, func(tx chat.Tx) error { var err error; inTx, err = tx.MemberUsers("r1", t0); return err })
	read, err := s.MemberUsers(ctx, "r1", t0)
	if err != nil || fmt.Sprint(read) != fmt.Sprint(inTx) || len(read) != 3 || read[0].ID != "a" || !read[0].Present || read[1].Present || read[2].ID != "c" {
		t.Fatalf("member users: %v read %+v, in a transaction %+v", err, read, inTx)
	}
	if none, err := s.MemberUsers(ctx, "nope", t0); err != nil || len(none) != 0 {
		t.Fatalf("member users of a missing room: %v %+v", err, none)
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteMember("r1", "a") })
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.DeleteMember("r1", "a") })
	wantCode(t, err, chat.CodeNotFound)
	r, _ = s.GetRoom(ctx, "r1")
	if r.MemberCount != 2 {
		t.Fatalf("member count %d", r.MemberCount)
	}
	write(t, s, func(tx chat.Tx) error {
		return tx.UpdateRoom(chat.Room{ID: "r1", Name: "Renamed", UpdatedAt: t0.Add(time.Hour)})
	})
	r, _ = s.GetRoom(ctx, "r1")
	if r.Name != "Renamed" || !r.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("rename: %+v", r)
	}
	var rooms []string
	write(t, s, func(tx chat.Tx) error { var err error; rooms, err = tx.UserRoomIDs("b"); return err })
	if fmt.Sprint(rooms) != "[r1]" {
		t.Fatalf("user rooms %v", rooms)
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("r1") })
	_, err = s.GetRoom(ctx, "r1")
	wantCode(t, err, chat.CodeNotFound)
	list, _ := s.ListRooms(ctx, "", 10)
	if len(list) != 0 {
		t.Fatalf("rooms left: %+v", list)
	}
}

func msg(room, id, thread string, at time.Time) chat.Message {
	return chat.Message{ID: id, RoomID: room, ThreadID: thread, Sender: chat.Sender{Type: "user", ID: "a", Name: "A"},
		Text: "hi " + id, Format: "markdown", HTML: "<p>hi</p>", Mentions: []chat.Mention{{Type: "all"}}, CreatedAt: at}
}

func testMessages(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r", user("a", chat.KindHuman))
	write(t, s, func(tx chat.Tx) error {
		for i := 1; i <= 5; i++ {
			thread := fmt.Sprintf("m%d", i)
			if i > 3 {
				thread = "m1"
			}
			if err := tx.InsertMessage(msg("r", fmt.Sprintf("m%d", i), thread, t0.Add(time.Duration(i)*time.Second))); err != nil {
				return err
			}
		}
		return nil
	})
	m, err := s.GetMessage(ctx, "r", "m2")
	if err != nil || m.Text != "hi m2" || m.Sender.Name != "A" || len(m.Mentions) != 1 || m.Mentions[0].Type != "all" || m.UpdatedAt != nil {
		t.Fatalf("get: %v %+v", err, m)
	}
	ids := func(q chat.MessageQuery) string {
		q.RoomID = "r"
		if q.Limit == 0 {
			q.Limit = 50
		}
		ms, err := s.ListMessages(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		q    chat.MessageQuery
		want string
	}{
		{chat.MessageQuery{}, "[m1 m2 m3 m4 m5]"},
		{chat.MessageQuery{After: "m2"}, "[m3 m4 m5]"},
		{chat.MessageQuery{Before: "m4"}, "[m1 m2 m3]"},
		{chat.MessageQuery{Before: "m5", Limit: 2}, "[m3 m4]"},
		{chat.MessageQuery{After: "m1", Before: "m5", Limit: 2}, "[m2 m3]"},
		{chat.MessageQuery{ThreadID: "m1"}, "[m1 m4 m5]"},
		{chat.MessageQuery{ThreadID: "m1", After: "m1"}, "[m4 m5]"},
		{chat.MessageQuery{ThreadID: "m1", Before: "m5", Limit: 1}, "[m4]"},
		{chat.MessageQuery{ThreadID: "m2"}, "[m2]"},
		{chat.MessageQuery{ThreadID: "m4"}, "[]"}, // a reply is not a thread of its own
		{chat.MessageQuery{After: "unknown"}, "[]"},
		{chat.MessageQuery{Desc: true, Limit: 2}, "[m5 m4]"},
		{chat.MessageQuery{Desc: true, Before: "m4", Limit: 2}, "[m3 m2]"},
		{chat.MessageQuery{Desc: true, After: "m1", Before: "m5"}, "[m4 m3 m2]"},
		{chat.MessageQuery{Desc: true, ThreadID: "m1"}, "[m5 m4 m1]"},
		{chat.MessageQuery{Viewer: "nobody-blocks"}, "[m1 m2 m3 m4 m5]"},
	} {
		if got := ids(c.q); got != c.want {
			t.Errorf("%+v: got %s want %s", c.q, got, c.want)
		}
	}
	upd := t0.Add(time.Hour)
	m.Text, m.HTML, m.UpdatedAt, m.Mentions = "edited", "<p>edited</p>", &upd, []chat.Mention{}
	write(t, s, func(tx chat.Tx) error { return tx.UpdateMessage(m) })
	m2, _ := s.GetMessage(ctx, "r", "m2")
	if m2.Text != "edited" || m2.UpdatedAt == nil || !m2.UpdatedAt.Equal(upd) || len(m2.Mentions) != 0 {
		t.Fatalf("update: %+v", m2)
	}
	var latest string
	write(t, s, func(tx chat.Tx) error { var err error; latest, err = tx.LatestMessageID("r"); return err })
	if latest != "m5" {
		t.Fatalf("latest %q", latest)
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetReadState("r", "a", "m3", t0) })
	mem, _ := s.ListMembers(ctx, "r", "", 10, t0)
	if mem[0].LastReadMessageID != "m3" || mem[0].LastReadAt == nil {
		t.Fatalf("read state: %+v", mem[0])
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteMessage("r", "m3") })
	_, err = s.GetMessage(ctx, "r", "m3")
	wantCode(t, err, chat.CodeNotFound)
	err = s.Write(ctx, func(tx chat.Tx) error { return tx.InsertMessage(msg("nope", "x", "x", t0)) })
	wantCode(t, err, chat.CodeNotFound)
}

func testEvents(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r")
	setupRoom(t, s, "q")
	var appended []*chat.Event // RoomSeq is assigned by the time the write returns
	write(t, s, func(tx chat.Tx) error {
		appended = appended[:0]
		for i, room := range []string{"r", "q", "r", "", "r"} {
			e := &chat.Event{ID: fmt.Sprintf("evt_%d", i), Type: chat.EventMessageSend, RoomID: room, CreatedAt: t0,
				Payload: json.RawMessage(`{"n":1}`), Agents: []string{"x"}}
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			appended = append(appended, e)
		}
		return nil
	})
	var seqs []int64
	for _, e := range appended {
		seqs = append(seqs, e.RoomSeq)
	}
	if fmt.Sprint(seqs) != "[1 1 2 0 3]" {
		t.Fatalf("room seqs %v", seqs)
	}
	evs, err := s.RoomEventsAfter(ctx, "r", 1, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "evt_2" || evs[1].RoomSeq != 3 || string(evs[0].Payload) != `{"n":1}` || fmt.Sprint(evs[0].Agents) != "[x]" {
		t.Fatalf("room events: %v %+v", err, evs)
	}
	all, last, err := s.Events(ctx, 0, 100)
	if err != nil || len(all) != 5 || all[3].RoomID != "" {
		t.Fatalf("events: %v %+v", err, all)
	}
	more, last2, _ := s.Events(ctx, last, 100)
	if len(more) != 0 || last2 != last {
		t.Fatalf("events after last: %+v", more)
	}
	err = s.Write(ctx, func(tx chat.Tx) error {
		return tx.AppendEvent(&chat.Event{ID: "evt_x", Type: "t", RoomID: "gone", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
	})
	wantCode(t, err, chat.CodeNotFound)
	if room, err := s.GetRoom(ctx, "r"); err != nil || room.LastEventID != 3 {
		t.Fatalf("room r: %v %+v, want its last event 3", err, room)
	}

	// A room deleted and made again under the same id numbers its events after those the
	// earlier room left (until retention removes them), so no number names two events.
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("q") })
	setupRoom(t, s, "q")
	if room, err := s.GetRoom(ctx, "q"); err != nil || room.LastEventID != 1 {
		t.Fatalf("room q made again: %v %+v, want its last event 1 (the earlier room's)", err, room)
	}
	appendEvents(t, s, chat.Event{ID: "evt_q2", Type: chat.EventMessageSend, RoomID: "q", CreatedAt: t0})
	evs, err = s.RoomEventsAfter(ctx, "q", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "evt_1" || evs[0].RoomSeq != 1 || evs[1].ID != "evt_q2" || evs[1].RoomSeq != 2 {
		t.Fatalf("events of room q made again: %v %+v, want evt_1 (1) and evt_q2 (2)", err, evs)
	}
	rooms, err := s.ListRooms(ctx, "", 10)
	if err != nil || len(rooms) != 2 || rooms[0].ID != "q" || rooms[0].LastEventID != 2 || rooms[1].ID != "r" || rooms[1].LastEventID != 3 {
		t.Fatalf("rooms: %v %+v, want q's last event 2 and r's 3", err, rooms)
	}
}

// A failing write function rolls back only its own changes; the others in the same batch
// commit.
func testErrorIsolation(t *testing.T, s chat.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, func(tx chat.Tx) error {
				if err := tx.InsertUser(user(fmt.Sprintf("iso%02d", i), chat.KindHuman)); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom
				}
				if i%7 == 0 {
					panic("write function panics")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, gerr := s.GetUser(ctx, fmt.Sprintf("iso%02d", i), t0)
		switch {
		case i%5 == 0:
			if !errors.Is(err, boom) || gerr == nil {
				t.Errorf("%d: want boom and no user, got %v / %v", i, err, gerr)
			}
		case i%7 == 0:
			if err == nil || gerr == nil {
				t.Errorf("%d: want panic error and no user, got %v / %v", i, err, gerr)
			}
		default:
			if err != nil || gerr != nil {
				t.Errorf("%d: want success, got %v / %v", i, err, gerr)
			}
		}
	}
	// A cancelled context before the write is rejected without running it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.Write(cctx, func(tx chat.Tx) error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("cancelled write: err %v ran %v", err, ran)
	}
}

func testConcurrentWrites(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r", user("a", chat.KindHuman))
	const n = 400
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Write(ctx, func(tx chat.Tx) error {
				id := fmt.Sprintf("c%04d", i)
				if err := tx.InsertMessage(msg("r", id, id, t0)); err != nil {
					return err
				}
				return tx.AppendEvent(&chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
			})
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	evs, err := s.RoomEventsAfter(ctx, "r", 0, 1000)
	if err != nil || len(evs) != n {
		t.Fatalf("events: %v, %d", err, len(evs))
	}
	for i, e := range evs {
		if e.RoomSeq != int64(i+1) {
			t.Fatalf("room seq gap at %d: %d", i, e.RoomSeq)
		}
	}
}

func testThreadsAndIdempotency(t *testing.T, s chat.Store) {
	setupRoom(t, s, "r")
	var got, idem string
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertThreadKey("r", "k", "t1"); err != nil {
			return err
		}
		if err := tx.InsertThreadKey("r", "k", "t2"); err != nil {
			return err
		}
		var err error
		if got, err = tx.ThreadByKey("r", "k"); err != nil {
			return err
		}
		if none, err := tx.ThreadByKey("r", "other"); err != nil || none != "" {
			return fmt.Errorf("unknown key: %q %v", none, err)
		}
		if err := tx.InsertIdempotency("hook1", "key", "m1", t0); err != nil {
			return err
		}
		idem, err = tx.IdempotentMessage("hook1", "key")
		if none, err := tx.IdempotentMessage("hook2", "key"); err != nil || none != "" {
			return fmt.Errorf("other scope: %q %v", none, err)
		}
		return err
	})
	if got != "t2" || idem != "m1" {
		t.Fatalf("thread %q idem %q", got, idem)
	}
	// Pruning forgets keys older than the cut-off, the oldest first and at most the limit
	// at a time, and expired stream leases.
	write(t, s, func(tx chat.Tx) error {
		for i := range 3 { // with "key", four old keys
			if err := tx.InsertIdempotency("hook1", fmt.Sprint("old", i), "m1", t0.Add(time.Duration(i+1)*time.Second)); err != nil {
				return err
			}
		}
		if err := tx.InsertIdempotency("hook1", "new", "m2", t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.InsertUser(user("lease", chat.KindHuman)); err != nil {
			return err
		}
		return tx.SetStreamPresence("n1", "lease", t0.Add(time.Minute))
	})
	var steps [][2]int64
	for i := range 4 {
		write(t, s, func(tx chat.Tx) error {
			keys, leases, err := tx.Prune(t0.Add(time.Minute), t0.Add(2*time.Minute), 3)
			steps = append(steps, [2]int64{keys, leases})
			if err != nil || i > 0 {
				return err
			}
			if newest, _ := tx.IdempotentMessage("hook1", "old2"); newest != "m1" {
				return fmt.Errorf("the first step of 3 took the newest old key, not the three oldest")
			}
			return nil
		})
	}
	if fmt.Sprint(steps) != "[[3 1] [1 0] [0 0] [0 0]]" {
		t.Fatalf("keys and leases pruned by each step of 3: %v, want [[3 1] [1 0] [0 0] [0 0]]", steps)
	}
	write(t, s, func(tx chat.Tx) error {
		for _, k := range []string{"key", "old0", "old1", "old2"} {
			if old, _ := tx.IdempotentMessage("hook1", k); old != "" {
				return fmt.Errorf("old key %s survived pruning", k)
			}
		}
		if kept, _ := tx.IdempotentMessage("hook1", "new"); kept != "m2" {
			return fmt.Errorf("new key pruned")
		}
		return nil
	})
	write(t, s, func(tx chat.Tx) error {
		_, _, err := tx.Prune(t0, t0, 0)
		if err == nil {
			return fmt.Errorf("a prune with no limit was taken")
		}
		return nil
	})
}

func testBlocks(t *testing.T, s chat.Store) {
	ctx := context.Background()
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertUser(user("x", chat.KindHuman)); err != nil {
			return err
		}
		return tx.InsertUser(user("y", chat.KindHuman))
	})
	write(t, s, func(tx chat.Tx) error { return tx.InsertBlock("x", "y", t0) })
	bs, err := s.ListBlocks(ctx, "x", "", 10)
	if err != nil || len(bs) != 1 || bs[0] != (chat.Block{UserID: "x", TargetID: "y", CreatedAt: t0}) {
		t.Fatalf("list blocks: %v %+v", err, bs)
	}
	if bs, err := s.ListBlocks(ctx, "x", "y", 10); err != nil || len(bs) != 0 {
		t.Fatalf("list blocks after y: %v %+v", err, bs)
	}
	if got, err := s.BlockedAmong(ctx, "x", []string{"a", "y", "z"}); err != nil || fmt.Sprint(got) != "[y]" {
		t.Fatalf("blocked among: %v %v", err, got)
	}
	if got, err := s.BlockedAmong(ctx, "y", []string{"x"}); err != nil || len(got) != 0 {
		t.Fatalf("blocks are one-way: %v %v", err, got)
	}
	wantCode(t, s.Write(ctx, func(tx chat.Tx) error { return tx.InsertBlock("x", "y", t0) }), chat.CodeAlreadyExists)
	wantCode(t, s.Write(ctx, func(tx chat.Tx) error { return tx.InsertBlock("x", "nobody", t0) }), chat.CodeNotFound)
	write(t, s, func(tx chat.Tx) error { return tx.DeleteBlock("x", "y") })
	wantCode(t, s.Write(ctx, func(tx chat.Tx) error { return tx.DeleteBlock("x", "y") }), chat.CodeNotFound)
}

func testSettings(t *testing.T, s chat.Store) {
	ctx := context.Background()
	if h, err := s.AdminTokenHash(ctx); err != nil || h != "" {
		t.Fatalf("fresh: %q %v", h, err)
	}
	write(t, s, func(tx chat.Tx) error { return tx.SetAdminTokenHash("h1") })
	write(t, s, func(tx chat.Tx) error { return tx.SetAdminTokenHash("h2") })
	if h, _ := s.AdminTokenHash(ctx); h != "h2" {
		t.Fatalf("got %q", h)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// RoomAgents answers exactly within a transaction that reads the room and changes its
// members, also after a failed request's changes were undone.
func testRoomAgentsInTx(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r", user("h", chat.KindHuman), user("b1", chat.KindAgent))
	write(t, s, func(tx chat.Tx) error { return tx.InsertUser(user("b2", chat.KindAgent)) })
	agents := func(tx chat.Tx, want string) error {
		if _, err := tx.GetRoom("r"); err != nil {
			return err
		}
		a, err := tx.RoomAgents("r")
		if err != nil {
			return err
		}
		if got := fmt.Sprint(a); got != want {
			return fmt.Errorf("agents %s, want %s", got, want)
		}
		return nil
	}
	write(t, s, func(tx chat.Tx) error {
		if err := agents(tx, "[b1]"); err != nil {
			return err
		}
		if err := tx.InsertMember("r", "b2", t0); err != nil {
			return err
		}
		if a, err := tx.RoomAgents("r"); err != nil || fmt.Sprint(a) != "[b1 b2]" {
			return fmt.Errorf("after join: %v %v", a, err)
		}
		if err := tx.DeleteMember("r", "b1"); err != nil {
			return err
		}
		return agents(tx, "[b2]")
	})
	// A request that changes members and fails, among others in its batch.
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, func(tx chat.Tx) error {
				if err := agents(tx, "[b2]"); err != nil {
					return err
				}
				if i == 7 {
					if err := tx.DeleteMember("r", "b2"); err != nil {
						return err
					}
					if err := agents(tx, "[]"); err != nil {
						return err
					}
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != errors.Is(err, boom) || (i != 7 && err != nil) {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// A failing insert is reported as itself, also when the statement after it in the same
// request is what reveals it (a store may send both together), and nothing of the request
// stays.
func testStatementErrors(t *testing.T, s chat.Store) {
	ctx := context.Background()
	setupRoom(t, s, "r", user("a", chat.KindHuman))
	write(t, s, func(tx chat.Tx) error { return tx.InsertMessage(msg("r", "m1", "m1", t0)) })
	for _, last := range []string{"event", "read", "none"} {
		err := s.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertMessage(msg("r", "m1", "m1", t0)); err != nil {
				return err
			}
			switch last {
			case "event":
				return tx.AppendEvent(&chat.Event{ID: "evt_dup", Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
			case "read":
				_, err := tx.GetRoom("r")
				return err
			}
			return nil
		})
		var ce *chat.Error
		if !errors.As(err, &ce) || ce.Code != chat.CodeAlreadyExists || ce.Message != `message "m1" already exists` {
			t.Fatalf("%s: got %v", last, err)
		}
	}
	if evs, err := s.RoomEventsAfter(ctx, "r", 0, 10); err != nil || len(evs) != 0 {
		t.Fatalf("events after failed writes: %v %v", evs, err)
	}
}
