package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// backends opens each backend with ONE writer, so that the test decides the batches, and
// reports the size of every committed batch to batches and why each batch ran again to
// reruns.
func backends(t *testing.T, run func(t *testing.T, s *sqlstore.Store, batches <-chan int, reruns *storetest.RerunLog)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		ch, reruns := make(chan int, 64), &storetest.RerunLog{}
		s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Options: sqlstore.Options{
			ObserveBatch: func(n int, _ time.Duration) { ch <- n }, ObserveRerun: reruns.Add}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		run(t, s, ch, reruns)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		ch, reruns := make(chan int, 64), &storetest.RerunLog{}
		s, err := postgres.Open(context.Background(), url, postgres.Options{Writers: 1, ReadConns: 2,
			Options: sqlstore.Options{ObserveBatch: func(n int, _ time.Duration) { ch <- n }, ObserveRerun: reruns.Add}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		run(t, s, ch, reruns)
	})
}

// batch holds the writer inside a gate request until fns are all queued behind it, so
// they run as one batch; it returns their errors and checks the batch size.
func batch(t *testing.T, s *sqlstore.Store, batches <-chan int, fns []func(chat.Tx) error) []error {
	t.Helper()
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	gateDone := make(chan error, 1)
	go func() {
		gateDone <- s.Write(ctx, func(chat.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, fn)
		}()
		// One at a time, so the batch runs them in index order.
		deadline := time.Now().Add(10 * time.Second)
		for s.Queued() < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d writes queued", s.Queued(), i+1)
			}
			time.Sleep(100 * time.Microsecond) // polling the queue length, with a deadline
		}
	}
	close(release)
	if err := <-gateDone; err != nil {
		t.Fatalf("gate write: %v", err)
	}
	wg.Wait()
	if n := <-batches; n != 1 {
		t.Fatalf("gate batch has %d requests", n)
	}
	if n := <-batches; n != len(fns) {
		t.Fatalf("batch has %d requests, want %d", n, len(fns))
	}
	return errs
}

func setup(t *testing.T, s *sqlstore.Store, batches <-chan int) {
	t.Helper()
	err := s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "a", Name: "A", Kind: chat.KindHuman, CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.InsertRoom(chat.Room{ID: "r", Name: "R", CreatorID: "a", CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.InsertMember("r", "a", t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	<-batches
}

// post is a good write: a message and its event in room r.
func post(id string, runs *atomic.Int32) func(chat.Tx) error {
	return func(tx chat.Tx) error {
		runs.Add(1)
		m := chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderUser, ID: "a"},
			Text: "t", Format: "markdown", Mentions: []chat.Mention{}, CreatedAt: t0}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		return tx.AppendEvent(&chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
	}
}

func hasError(err error, code chat.Code, msg string) bool {
	var ce *chat.Error
	return errors.As(err, &ce) && ce.Code == code && ce.Message == msg
}

// checkCommitted checks that room r holds exactly the events of ids, once each, in a
// gapless sequence.
func checkCommitted(t *testing.T, s *sqlstore.Store, ids []string) {
	t.Helper()
	evs, err := s.RoomEventsAfter(context.Background(), "r", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want["evt_"+id] = true
	}
	if len(evs) != len(ids) {
		t.Fatalf("%d events committed, want %d", len(evs), len(ids))
	}
	for i, e := range evs {
		if !want[e.ID] || e.RoomSeq != int64(i+1) {
			t.Fatalf("event %d: %s seq %d", i, e.ID, e.RoomSeq)
		}
		delete(want, e.ID)
	}
}

// A request that fails before writing (a missing room) is answered with its own error;
// the good requests of its batch run once and commit.
func TestBatchFailureBeforeWrite(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int, reruns *storetest.RerunLog) {
		setup(t, s, batches)
		const n = 40
		runs := make([]atomic.Int32, n)
		var ids []string
		fns := make([]func(chat.Tx) error, n)
		for i := range n {
			id := fmt.Sprintf("m%02d", i)
			if i == n/2 {
				fns[i] = func(tx chat.Tx) error {
					runs[i].Add(1)
					if _, err := tx.GetRoom("missing"); err != nil {
						return err
					}
					return post(id, &runs[i])(tx)
				}
				continue
			}
			ids = append(ids, id)
			fns[i] = post(id, &runs[i])
		}
		errs := batch(t, s, batches, fns)
		for i, err := range errs {
			if i == n/2 {
				if !hasError(err, chat.CodeNotFound, `room "missing" not found`) {
					t.Errorf("failing request: %v", err)
				}
			} else if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			if r := runs[i].Load(); r != 1 {
				t.Errorf("request %d ran %d times, want once", i, r)
			}
		}
		checkCommitted(t, s, ids)
		if got := reruns.Take(); len(got) != 0 {
			t.Errorf("the batch ran again (%q); want it to run once", got)
		}
	})
}

// A request that fails after writing (a duplicate message id) is answered with its own
// error and not run again; the others commit exactly once.
func TestBatchFailureAfterWrite(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int, reruns *storetest.RerunLog) {
		setup(t, s, batches)
		const n = 40
		runs := make([]atomic.Int32, n)
		var ids []string
		fns := make([]func(chat.Tx) error, n)
		for i := range n {
			id := fmt.Sprintf("m%02d", i)
			if i == n/2 {
				// Writes its event, then its message collides with request 0's.
				fns[i] = func(tx chat.Tx) error {
					runs[i].Add(1)
					if err := tx.AppendEvent(&chat.Event{ID: "evt_dup", Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)}); err != nil {
						return err
					}
					return tx.InsertMessage(chat.Message{ID: "m00", RoomID: "r", ThreadID: "m00", Sender: chat.Sender{Type: chat.SenderUser, ID: "a"},
						Text: "t", Format: "markdown", Mentions: []chat.Mention{}, CreatedAt: t0})
				}
				continue
			}
			ids = append(ids, id)
			fns[i] = post(id, &runs[i])
		}
		errs := batch(t, s, batches, fns)
		sqlite := s.Dialect() == "sqlite"
		for i, err := range errs {
			r := runs[i].Load()
			switch {
			case i == n/2:
				if !hasError(err, chat.CodeAlreadyExists, `message "m00" already exists`) {
					t.Errorf("failing request: %v", err)
				}
				if sqlite && r != 1 {
					t.Errorf("failing request ran %d times, want once", r)
				}
				if r > 2 {
					// PostgreSQL merges the requests' messages into one statement: when it
					// fails, the batch runs once more with the statements one by one, which
					// finds the request to blame.
					t.Errorf("failing request ran %d times, want at most twice", r)
				}
			case err != nil:
				t.Errorf("request %d: %v", i, err)
			case i > n/2 && r != 1 && sqlite:
				// Requests after the failing one had not run when it failed.
				t.Errorf("request %d ran %d times, want once", i, r)
			case i > n/2 && r > 3:
				// PostgreSQL sends the statements of several requests together, so the
				// failure is found when they are sent: the requests after it may redo
				// their work too, once unmerged and once after.
				t.Errorf("request %d ran %d times, want at most three times", i, r)
			case i < n/2 && sqlite && r != 2:
				// Requests before it redo their work once, after the rollback.
				t.Errorf("request %d ran %d times, want twice", i, r)
			case i < n/2 && !sqlite && r != 3:
				// On PostgreSQL, once more: the rerun with the statements one by one.
				t.Errorf("request %d ran %d times, want three times", i, r)
			}
		}
		checkCommitted(t, s, ids)
		want := []string{sqlstore.RerunRequestFailed}
		if !sqlite {
			want = []string{sqlstore.RerunUnmerge, sqlstore.RerunRequestFailed}
		}
		if got := reruns.Take(); !slices.Equal(got, want) {
			t.Errorf("the batch ran again for %q, want %q", got, want)
		}
	})
}

// With its commit window open, the writer waits it out after a batch's first request and
// commits what arrived meanwhile with it; after a batch of one (a serial client) it never
// waits.
func TestWriterGathersThroughItsCommitWindow(t *testing.T) {
	ch := make(chan int, 64)
	o := sqlstore.WithFixedCommitWindow(sqlstore.Options{ObserveBatch: func(n int, _ time.Duration) { ch <- n }}, time.Millisecond)
	s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var gathered atomic.Int32
	s.OnGathering(func(int) { gathered.Add(1) })
	setup(t, s, ch) // a batch of one
	var runs atomic.Int32
	ctx := context.Background()
	if err := s.Write(ctx, post("serial", &runs)); err != nil {
		t.Fatal(err)
	}
	if n := <-ch; n != 1 || gathered.Load() != 0 {
		t.Fatalf("after a batch of one: batch of %d, %d windows waited", n, gathered.Load())
	}
	// A batch of two opens the way to the window.
	batch(t, s, ch, []func(chat.Tx) error{post("m1", &runs), post("m2", &runs)})

	// The next request's batch waits: the hook (on the writer, before the window) queues a
	// second request, which must join the first one's commit.
	second := make(chan error, 1)
	var waited atomic.Bool
	s.OnGathering(func(n int) {
		waited.Store(true)
		if n != 1 {
			t.Errorf("the window began with %d requests, want 1", n)
		}
		go func() { second <- s.Write(ctx, post("late", &runs)) }()
		deadline := time.Now().Add(10 * time.Second)
		for s.Queued() < 1 {
			if time.Now().After(deadline) {
				t.Error("the second request was not queued")
				return
			}
			time.Sleep(100 * time.Microsecond) // polling the queue length, with a deadline
		}
	})
	if err := s.Write(ctx, post("early", &runs)); err != nil {
		t.Fatal(err)
	}
	if !waited.Load() {
		t.Fatal("the writer committed without waiting out its window")
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := <-ch; n != 2 {
		t.Fatalf("the window's batch has %d requests, want 2 (the late one joined)", n)
	}
	checkCommitted(t, s, []string{"serial", "m1", "m2", "early", "late"})
}

// postTo is a good write in room: a message and its event, kept in ev (its number is
// known once the write returns).
func postTo(room, id string, ev **chat.Event) func(chat.Tx) error {
	return func(tx chat.Tx) error {
		m := chat.Message{ID: id, RoomID: room, ThreadID: id, Sender: chat.Sender{Type: chat.SenderUser, ID: "a"},
			Text: "t " + id, Format: "markdown", Mentions: []chat.Mention{}, CreatedAt: t0}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		e := &chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: room, CreatedAt: t0, Payload: json.RawMessage(`{"m":"` + id + `"}`)}
		*ev = e
		return tx.AppendEvent(e)
	}
}

// A batch of posts to two rooms, interleaved, with a request between them that reads and
// writes something else: every event is numbered after its room's newest, in the order of
// the requests (PostgreSQL sends a run of posts' rows as one statement a table), the
// numbers the requests saw are the committed ones, and events, messages and their texts
// commit in request order.
func TestBatchOfPostsNumbersEachRoomInOrder(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int, reruns *storetest.RerunLog) {
		setup(t, s, batches)
		if err := s.Write(context.Background(), func(tx chat.Tx) error {
			if err := tx.InsertRoom(chat.Room{ID: "r2", Name: "R2", CreatorID: "a", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			// Room r has two events already: its posts number from 3.
			for _, id := range []string{"evt_old1", "evt_old2"} {
				if err := tx.AppendEvent(&chat.Event{ID: id, Type: chat.EventRoomChanged, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		<-batches
		const n = 24
		rooms := make([]string, n)
		evs := make([]*chat.Event, n)
		fns := make([]func(chat.Tx) error, n)
		for i := range n {
			rooms[i] = "r"
			if i%3 == 1 {
				rooms[i] = "r2"
			}
			id := fmt.Sprintf("m%02d", i)
			fns[i] = postTo(rooms[i], id, &evs[i])
			if i == n/2 {
				post := fns[i]
				fns[i] = func(tx chat.Tx) error { // a read and a member write between the posts
					if ok, err := tx.IsMember("r2", "a"); err != nil || ok {
						return fmt.Errorf("member before joining: %v %v", ok, err)
					}
					if err := tx.InsertMember("r2", "a", t0); err != nil {
						return err
					}
					return post(tx)
				}
			}
		}
		errs := batch(t, s, batches, fns)
		want := map[string]int64{"r": 2, "r2": 0}
		var order []string
		for i, err := range errs {
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			want[rooms[i]]++
			if evs[i].RoomSeq != want[rooms[i]] {
				t.Errorf("request %d (room %s) got number %d, want %d", i, rooms[i], evs[i].RoomSeq, want[rooms[i]])
			}
			order = append(order, fmt.Sprintf("evt_m%02d", i))
		}
		for _, room := range []string{"r", "r2"} {
			evs, err := s.RoomEventsAfter(context.Background(), room, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(evs)) != want[room] {
				t.Fatalf("room %s has %d events, want %d", room, len(evs), want[room])
			}
			for i, e := range evs {
				if e.RoomSeq != int64(i+1) {
					t.Errorf("room %s: event %d is %s with number %d", room, i, e.ID, e.RoomSeq)
				}
			}
		}
		all, _, err := s.Events(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range all {
			if e.Type == chat.EventMessageSend {
				got = append(got, e.ID)
				if want := `{"m":"` + e.ID[len("evt_"):] + `"}`; string(e.Payload) != want {
					t.Errorf("event %s payload %s, want %s", e.ID, e.Payload, want)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(order) {
			t.Errorf("events in order %v, want %v", got, order)
		}
		for _, room := range []string{"r", "r2"} {
			msgs, err := s.ListMessages(context.Background(), chat.MessageQuery{RoomID: room, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if posts := want[room] - map[string]int64{"r": 2}[room]; int64(len(msgs)) != posts {
				t.Errorf("room %s has %d messages, want %d", room, len(msgs), posts)
			}
			var prev string
			for _, m := range msgs {
				if m.Text != "t "+m.ID || m.RoomID != room {
					t.Errorf("message %s in %s: %q", m.ID, m.RoomID, m.Text)
				}
				if prev != "" && m.ID < prev {
					t.Errorf("room %s: message %s after %s", room, m.ID, prev)
				}
				prev = m.ID
			}
		}
	})
}

// A request whose room event names a room that does not exist, in a batch of posts, is
// answered not_found; nothing of it commits, and every other request commits once.
func TestBatchEventForAMissingRoom(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int, reruns *storetest.RerunLog) {
		setup(t, s, batches)
		const n = 12
		var ids []string
		fns := make([]func(chat.Tx) error, n)
		for i := range n {
			id := fmt.Sprintf("m%02d", i)
			if i == n-1 { // the batch's last statement before its commit
				fns[i] = func(tx chat.Tx) error {
					return tx.AppendEvent(&chat.Event{ID: "evt_gone", Type: chat.EventRoomChanged, RoomID: "gone", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
				}
				continue
			}
			ids = append(ids, id)
			var runs atomic.Int32
			fns[i] = post(id, &runs)
		}
		errs := batch(t, s, batches, fns)
		for i, err := range errs {
			if i == n-1 {
				if !hasError(err, chat.CodeNotFound, `room "gone" not found`) {
					t.Errorf("failing request: %v", err)
				}
			} else if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
		checkCommitted(t, s, ids)
		if evs, err := s.EventsByID(context.Background(), []string{"evt_gone"}); err != nil || len(evs) != 0 {
			t.Errorf("the missing room's event: %v, %v", evs, err)
		}
	})
}
