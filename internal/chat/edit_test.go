package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

// How writerFlagStore answers message reads outside the writer.
const (
	readsTrue        int32 = iota
	readsFail              // with an error
	readsOtherFormat       // with the message under another format
)

// writerFlagStore is the real SQLite store, telling whether a write function is running
// (in the writer), and answering message reads outside the writer as reads says.
type writerFlagStore struct {
	chat.Store
	inWriter atomic.Bool
	reads    atomic.Int32
}

func (w *writerFlagStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	return w.Store.Write(ctx, func(tx chat.Tx) error {
		w.inWriter.Store(true)
		defer w.inWriter.Store(false)
		return fn(tx)
	})
}

func (w *writerFlagStore) GetMessage(ctx context.Context, roomID, id string) (chat.Message, error) {
	m, err := w.Store.GetMessage(ctx, roomID, id)
	switch w.reads.Load() {
	case readsFail:
		return chat.Message{}, errors.New("injected: the read pool is down")
	case readsOtherFormat:
		m.Format = "other"
	}
	return m, err
}

// spyRenderer renders the text within its format's name, and counts the renders made in
// the writer.
type spyRenderer struct {
	store    *writerFlagStore
	inWriter atomic.Int64
}

func (s *spyRenderer) Render(format, text string) chat.Rendered {
	if s.store.inWriter.Load() {
		s.inWriter.Add(1)
	}
	return chat.Rendered{HTML: "<" + format + ">" + text}
}

// An edit renders its text before it enters the writer; if the message cannot be read
// there, or the writer finds it under another format, the writer renders it, and the
// edit is the same.
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
		reads         int32
		writerRenders int64
	}{
		{"edited <once>", readsTrue, 0},
		{"edited & again", readsFail, 1},
		{"edited thrice", readsOtherFormat, 1},
	} {
		ws.reads.Store(c.reads)
		spy.inWriter.Store(0)
		m, err := svc.EditMessage(ctx, "r", posted.Message.ID, c.text)
		if err != nil {
			t.Fatal(err)
		}
		if n := spy.inWriter.Load(); n != c.writerRenders {
			t.Errorf("edit %q: rendered %d times in the writer, want %d", c.text, n, c.writerRenders)
		}
		want := "<" + posted.Message.Format + ">" + c.text
		if m.Text != c.text || m.HTML != want || m.UpdatedAt == nil {
			t.Fatalf("edit %q returned %+v", c.text, m)
		}
		ws.reads.Store(readsTrue)
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
