package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// commitOutcomeLost runs the writer's statements, but once armed reports its next COMMIT
// as failed after it ran: a commit whose outcome the writer cannot know.
type commitOutcomeLost struct {
	sqlstore.WriterConn
	armed atomic.Bool
}

func (c *commitOutcomeLost) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := c.WriterConn.Exec(ctx, q, args...)
	if q == "COMMIT" && err == nil && c.armed.CompareAndSwap(true, false) {
		return n, errors.New("the commit's outcome was lost")
	}
	return n, err
}

// A batch whose COMMIT failed may have committed: the writer must not number the room's
// next event from what it remembered before that batch.
func TestRoomEventNumberAfterACommitOfUnknownOutcome(t *testing.T) {
	var wc *commitOutcomeLost
	o := Options{wrapWriter: func(c sqlstore.WriterConn) sqlstore.WriterConn {
		wc = &commitOutcomeLost{WriterConn: c}
		return wc
	}}
	s, err := Open(context.Background(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "a", Name: "A", Kind: chat.KindHuman, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.InsertRoom(chat.Room{ID: "r", Name: "R", CreatorID: "a", CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	post := func(id string) (*chat.Event, error) {
		e := &chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)}
		return e, s.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertMessage(chat.Message{ID: id, RoomID: "r", ThreadID: id, Sender: chat.Sender{Type: chat.SenderUser, ID: "a"},
				Text: "t", Format: "markdown", Mentions: []chat.Mention{}, CreatedAt: t0}); err != nil {
				return err
			}
			return tx.AppendEvent(e)
		})
	}
	if e, err := post("m1"); err != nil || e.RoomSeq != 1 {
		t.Fatalf("first post: %v, number %d", err, e.RoomSeq)
	}
	wc.armed.Store(true)
	if _, err := post("m2"); chat.ErrorCode(err) != chat.CodeUnavailable {
		t.Fatalf("post whose commit failed: %v, want unavailable", err)
	}
	e, err := post("m3")
	if err != nil {
		t.Fatal(err)
	}
	if e.RoomSeq != 3 {
		t.Errorf("the post after a commit of unknown outcome numbered %d, want 3 (the failed commit committed number 2)", e.RoomSeq)
	}
	evs, err := s.RoomEventsAfter(ctx, "r", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"evt_m1", "evt_m2", "evt_m3"} {
		if i >= len(evs) || evs[i].ID != want || evs[i].RoomSeq != int64(i+1) {
			t.Fatalf("room events %+v, want evt_m1, evt_m2, evt_m3 numbered 1 to 3", evs)
		}
	}
}
