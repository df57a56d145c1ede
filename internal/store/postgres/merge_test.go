package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/postgres"
)

// A batch of posts sends its messages as one statement and its events as another, whole
// with BEGIN, the lock, the guard, the notification and COMMIT in one round trip; each
// post's event gets its own number.
func TestBatchOfPostsSendsOneStatementATable(t *testing.T) {
	t.Parallel()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	ctx := context.Background()
	now := time.Now()
	userRoomThenPosts(t, s, s, now) // m0 and m1: room r's events 1 and 2; the next batch is whole

	const n = 10
	evs := make([]*chat.Event, n)
	errs := make([]error, n)
	behindGate(t, s, n, rt.reset, func(i int) {
		errs[i] = s.Write(ctx, func(tx chat.Tx) error {
			if _, _, err := tx.RoomForPost("r"); err != nil {
				return err
			}
			id := fmt.Sprintf("p%d", i)
			if err := tx.InsertMessage(chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh", Name: "W"},
				Text: "t", Format: "markdown", HTML: "<p>t</p>", Mentions: []chat.Mention{}, CreatedAt: now}); err != nil {
				return err
			}
			evs[i] = &chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: "r", CreatedAt: now, Payload: []byte(`{}`)}
			return tx.AppendEvent(evs[i])
		})
	})
	seen := map[int64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if q := evs[i].RoomSeq; q < 3 || q > n+2 || seen[q] {
			t.Fatalf("post %d numbered %d (numbers seen: %v)", i, q, seen)
		}
		seen[evs[i].RoomSeq] = true
	}
	var batch string
	for _, trip := range rt.trips() {
		if strings.Contains(trip, "INSERT INTO messages") {
			if batch != "" {
				t.Fatalf("the posts' rows went in two round trips: %q and %q", batch, trip)
			}
			batch = trip
		}
	}
	stmts := strings.Split(batch, " | ")
	if len(stmts) != 7 || !strings.HasPrefix(batch, "BEGIN | SELECT pg_advisory_xact_lock") || !strings.Contains(stmts[2], "chathooks_batch_guard") ||
		stmts[3] != postgres.Dialect.InsertMessages || stmts[4] != postgres.Dialect.AppendRoomEvents ||
		!strings.Contains(stmts[5], "pg_notify") || stmts[6] != "COMMIT" {
		t.Fatalf("the batch of %d posts sent %d statements: %q; want BEGIN, the lock, the guard, the messages, the events, the notification and COMMIT", n, len(stmts), stmts)
	}
}

// Threaded posts' thread keys go as one more statement, after the messages and the events;
// of two posts that set the same key in one batch the later one wins, as one by one.
func TestBatchOfThreadedPostsSendsOneStatementATable(t *testing.T) {
	t.Parallel()
	s, rt := openWrapped(t, postgres.Options{Writers: 1}, newRoundTrips)
	ctx := context.Background()
	now := time.Now()
	userRoomThenPosts(t, s, s, now) // the next batch is whole

	const n = 6
	errs := make([]error, n)
	behindGate(t, s, n, rt.reset, func(i int) {
		errs[i] = s.Write(ctx, func(tx chat.Tx) error {
			id := fmt.Sprintf("q%d", i)
			if err := tx.InsertThreadKey("r", fmt.Sprintf("k%d", min(i, 4)), id); err != nil { // q4 and q5 both set k4
				return err
			}
			if err := tx.InsertMessage(chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh", Name: "W"},
				Text: "t", Format: "markdown", HTML: "<p>t</p>", Mentions: []chat.Mention{}, CreatedAt: now}); err != nil {
				return err
			}
			return tx.AppendEvent(&chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: "r", CreatedAt: now, Payload: []byte(`{}`)})
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	var batch string
	for _, trip := range rt.trips() {
		if strings.Contains(trip, "INSERT INTO messages") {
			batch = trip
		}
	}
	stmts := strings.Split(batch, " | ")
	if len(stmts) != 9 || stmts[3] != postgres.Dialect.InsertMessages || stmts[4] != postgres.Dialect.AppendRoomEvents ||
		stmts[5] != postgres.Dialect.UpsertThreadKeys || stmts[7] != postgres.Dialect.ThreadVersionEnd || stmts[8] != "COMMIT" {
		t.Fatalf("the batch of %d threaded posts sent %d statements: %q; want BEGIN, the lock, the guard, the messages, the events, the thread keys, the notification, the thread cache's version and COMMIT", n, len(stmts), stmts)
	}
	var got []string
	if err := s.Write(ctx, func(tx chat.Tx) error {
		for k := range 5 {
			th, err := tx.ThreadByKey("r", fmt.Sprintf("k%d", k))
			if err != nil {
				return err
			}
			got = append(got, th)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[q0 q1 q2 q3 q5]" {
		t.Fatalf("thread keys k0..k4 name %v, want [q0 q1 q2 q3 q5]", got)
	}
}
