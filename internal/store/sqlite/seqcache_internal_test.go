package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// writerProbe wraps the writer's connection: it counts the reads of a room's newest event
// number, and once armed reports its next COMMIT as failed after it ran (a commit whose
// outcome the writer cannot know).
type writerProbe struct {
	sqlstore.WriterConn
	seqReads   atomic.Int64
	loseCommit atomic.Bool
}

// isRoomSeqRead recognises the read of a room's newest event number (the statement reads
// the rooms table for the room and its events' greatest number).
func isRoomSeqRead(q string) bool {
	return strings.Contains(q, "MAX(e.room_seq)") && strings.HasSuffix(q, "FROM rooms WHERE id = ?")
}

func (p *writerProbe) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	if isRoomSeqRead(q) {
		p.seqReads.Add(1)
	}
	return p.WriterConn.QueryRow(ctx, q, args...)
}

func (p *writerProbe) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := p.WriterConn.Exec(ctx, q, args...)
	if q == "COMMIT" && err == nil && p.loseCommit.CompareAndSwap(true, false) {
		return n, errors.New("the commit's outcome was lost")
	}
	return n, err
}

var probeT0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// openProbed opens a store whose writer connection is probed, with user a and rooms r and
// r2.
func openProbed(t *testing.T) (*sqlstore.Store, *writerProbe) {
	t.Helper()
	var p *writerProbe
	s, err := Open(context.Background(), t.TempDir(), Options{wrapWriter: func(c sqlstore.WriterConn) sqlstore.WriterConn {
		p = &writerProbe{WriterConn: c}
		return p
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "a", Name: "A", Kind: chat.KindHuman, CreatedAt: probeT0}); err != nil {
			return err
		}
		for _, r := range []string{"r", "r2"} {
			if err := tx.InsertRoom(chat.Room{ID: r, Name: r, CreatorID: "a", CreatedAt: probeT0, UpdatedAt: probeT0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// probePost writes a message and its event in room, in a batch of its own.
func probePost(s *sqlstore.Store, room, id string) (*chat.Event, error) {
	e := &chat.Event{ID: "evt_" + id, Type: chat.EventMessageSend, RoomID: room, CreatedAt: probeT0, Payload: json.RawMessage(`{}`)}
	return e, s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertMessage(chat.Message{ID: id, RoomID: room, ThreadID: id, Sender: chat.Sender{Type: chat.SenderUser, ID: "a"},
			Text: "t", Format: "markdown", Mentions: []chat.Mention{}, CreatedAt: probeT0}); err != nil {
			return err
		}
		return tx.AppendEvent(e)
	})
}

// A room's newest event number is read once, by the room's first post; later posts, also
// after a member joined, number their events from the writer's memory.
func TestRoomEventNumberReadOncePerRoom(t *testing.T) {
	s, p := openProbed(t)
	want := []struct {
		room  string
		seq   int64
		reads int64
	}{{"r", 1, 1}, {"r", 2, 1}, {"r", 3, 1}, {"r2", 1, 2}, {"r", 4, 2}}
	for i, w := range want {
		if i == 3 {
			// A member joining changes no event number.
			if err := s.Write(context.Background(), func(tx chat.Tx) error { return tx.InsertMember("r", "a", probeT0) }); err != nil {
				t.Fatal(err)
			}
		}
		e, err := probePost(s, w.room, "m"+string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if e.RoomSeq != w.seq || p.seqReads.Load() != w.reads {
			t.Errorf("post %d in %s: number %d after %d reads of a room's number, want %d after %d", i, w.room, e.RoomSeq, p.seqReads.Load(), w.seq, w.reads)
		}
	}
}

// A batch whose COMMIT failed may have committed: the writer must not number the room's
// next event from what it remembered before that batch.
func TestRoomEventNumberAfterACommitOfUnknownOutcome(t *testing.T) {
	s, p := openProbed(t)
	if e, err := probePost(s, "r", "m1"); err != nil || e.RoomSeq != 1 {
		t.Fatalf("first post: %v, number %d", err, e.RoomSeq)
	}
	p.loseCommit.Store(true)
	if _, err := probePost(s, "r", "m2"); chat.ErrorCode(err) != chat.CodeUnavailable {
		t.Fatalf("post whose commit failed: %v, want unavailable", err)
	}
	e, err := probePost(s, "r", "m3")
	if err != nil {
		t.Fatal(err)
	}
	if e.RoomSeq != 3 {
		t.Errorf("the post after a commit of unknown outcome numbered %d, want 3 (the failed commit committed number 2)", e.RoomSeq)
	}
	evs, err := s.RoomEventsAfter(context.Background(), "r", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"evt_m1", "evt_m2", "evt_m3"} {
		if i >= len(evs) || evs[i].ID != want || evs[i].RoomSeq != int64(i+1) {
			t.Fatalf("room events %+v, want evt_m1, evt_m2, evt_m3 numbered 1 to 3", evs)
		}
	}
}
