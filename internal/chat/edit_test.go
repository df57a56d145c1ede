package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

// writerFlagStore is the real SQLite store, telling whether a write function is running
// (in the writer), and failing its message reads outside the writer when failReads is set.
type writerFlagStore struct {
	chat.Store
	inWriter  atomic.Bool
	failReads atomic.Bool
}

func (w *writerFlagStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	return w.Store.Write(ctx, func(tx chat.Tx) error {
		w.inWriter.Store(true)
		defer w.inWriter.Store(false)
		return fn(tx)
	})
}

func (w *writerFlagStore) GetMessage(ctx context.Context, roomID, id string) (chat.Message, error) {
	if w.failReads.Load() {
		return chat.Message{}, errors.New("injected: the read pool is down")
	}
	return w.Store.GetMessage(ctx, roomID, id)
}

// spyRenderer renders as plainRenderer does and counts the renders made in the writer.
type spyRenderer struct {
	store    *writerFlagStore
	inWriter atomic.Int64
}

func (s *spyRenderer) Render(format, text string) chat.Rendered {
	if s.store.inWriter.Load() {
		s.inWriter.Add(1)
	}
	return plainRenderer{}.Render(format, text)
}

// An edit renders its text before it enters the writer; if the message cannot be read
// there, the writer renders it, and the edit is the same.
func TestEditRendersBeforeTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openSQLite(t)
	ws := &writerFlagStore{Store: st}
	spy := &spyRenderer{store: ws}
	svc := chat.NewService(chat.Config{Store: ws, Renderer: spy})
	if _, err := svc.CreateUser(ctx, chat.CreateUser{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateRoom(ctx, chat.CreateRoom{ID: "r", Name: "R", MemberIDs: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	posted, err := svc.PostMessage(ctx, chat.PostMessage{RoomID: "r", Sender: chat.Sender{Type: chat.SenderUser, ID: "a"}, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if n := spy.inWriter.Load(); n != 0 {
		t.Fatalf("the post rendered %d times in the writer", n)
	}
	for _, c := range []struct {
		text          string
		failRead      bool
		writerRenders int64
	}{
		{"edited <once>", false, 0},
		{"edited & again", true, 1}, // the read before the writer fails: the writer renders
	} {
		ws.failReads.Store(c.failRead)
		spy.inWriter.Store(0)
		m, err := svc.EditMessage(ctx, "r", posted.Message.ID, c.text)
		if err != nil {
			t.Fatal(err)
		}
		if n := spy.inWriter.Load(); n != c.writerRenders {
			t.Errorf("edit %q: rendered %d times in the writer, want %d", c.text, n, c.writerRenders)
		}
		want := plainRenderer{}.Render("", c.text).HTML
		if m.Text != c.text || m.HTML != want || m.UpdatedAt == nil {
			t.Fatalf("edit %q returned %+v", c.text, m)
		}
		ws.failReads.Store(false)
		stored, err := st.GetMessage(ctx, "r", posted.Message.ID)
		if err != nil || stored.Text != c.text || stored.HTML != want {
			t.Fatalf("edit %q stored %+v, %v", c.text, stored, err)
		}
		evs, _, err := st.Events(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		var p chat.MessagePayload
		if err := json.Unmarshal(last.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if last.Type != chat.EventMessageUpdate || p.Message.Text != c.text || p.Message.HTML != want || p.Room.ID != "r" {
			t.Fatalf("edit %q: last event %s with %s", c.text, last.Type, last.Payload)
		}
		if b, _ := json.Marshal(p); string(b) != string(last.Payload) {
			t.Fatalf("edit %q: payload %s is not what json.Marshal writes: %s", c.text, last.Payload, b)
		}
	}
}
