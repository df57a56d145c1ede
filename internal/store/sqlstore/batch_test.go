package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// backends opens each backend with ONE writer, so that the test decides the batches, and
// reports the size of every committed batch to batches.
func backends(t *testing.T, run func(t *testing.T, s *sqlstore.Store, batches <-chan int)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		ch := make(chan int, 64)
		s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Options: sqlstore.Options{ObserveBatch: func(n int, _ time.Duration) { ch <- n }}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		run(t, s, ch)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		ch := make(chan int, 64)
		s, err := postgres.Open(context.Background(), url, postgres.Options{Writers: 1, ReadConns: 2,
			Options: sqlstore.Options{ObserveBatch: func(n int, _ time.Duration) { ch <- n }}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		run(t, s, ch)
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
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int) {
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
	})
}

// A request that fails after writing (a duplicate message id) is answered with its own
// error and not run again; the others commit exactly once.
func TestBatchFailureAfterWrite(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int) {
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
		for i, err := range errs {
			r := runs[i].Load()
			switch {
			case i == n/2:
				if !hasError(err, chat.CodeAlreadyExists, `message "m00" already exists`) {
					t.Errorf("failing request: %v", err)
				}
				if r != 1 {
					t.Errorf("failing request ran %d times, want once", r)
				}
			case err != nil:
				t.Errorf("request %d: %v", i, err)
			case i > n/2 && r != 1 && s.Dialect() == "sqlite":
				// Requests after the failing one had not run when it failed.
				t.Errorf("request %d ran %d times, want once", i, r)
			case i > n/2 && r > 2:
				// PostgreSQL sends the statements of several requests together, so the
				// failure is found when they are sent: the requests after it may redo
				// their work once too.
				t.Errorf("request %d ran %d times, want at most twice", i, r)
			case i < n/2 && r != 2:
				// Requests before it redo their work once, after the rollback.
				t.Errorf("request %d ran %d times, want twice", i, r)
			}
		}
		checkCommitted(t, s, ids)
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
