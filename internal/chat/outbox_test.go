package chat_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

var errInjected = errors.New("injected outbox failure")

// failingStore is the real SQLite store whose transactions fail when an event of one type
// is appended, to prove a change never commits without its event.
type failingStore struct {
	chat.Store
	failType string
}

func (f *failingStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	return f.Store.Write(ctx, func(tx chat.Tx) error { return fn(failingTx{tx, f.failType}) })
}

type failingTx struct {
	chat.Tx
	failType string
}

func (f failingTx) AppendEvent(e *chat.Event) error {
	if e.Type == f.failType {
		return errInjected
	}
	return f.Tx.AppendEvent(e)
}

// openSQLite opens a new SQLite store, closed when the test ends.
func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type plainRenderer struct{}

func (plainRenderer) Render(_, text string) chat.Rendered {
	return chat.Rendered{HTML: "<p>" + text + "</p>"}
}

func TestOutboxAtomicity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openSQLite(t)
	fs := &failingStore{Store: st}
	svc := chat.NewService(chat.Config{Store: fs, Renderer: plainRenderer{}})
	if _, err := svc.CreateUser(ctx, chat.CreateUser{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, chat.CreateUser{ID: "b", Name: "B", Kind: chat.KindAgent}); err != nil {
		t.Fatal(err)
	}
	countEvents := func() int {
		evs, _, err := st.Events(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	// Each step: inject a failure at its (last) event, check nothing changed, then run it for real.
	steps := []struct {
		name      string
		failType  string
		run       func() error
		unchanged func() bool
	}{
		{"create room", chat.EventRoomJoin, func() error {
			_, err := svc.CreateRoom(ctx, chat.CreateRoom{ID: "r", Name: "R", MemberIDs: []string{"a"}})
			return err
		}, func() bool { _, err := st.GetRoom(ctx, "r"); return chat.IsCode(err, chat.CodeNotFound) }},
		{"join", chat.EventRoomJoin, func() error { return svc.Join(ctx, "r", "b") },
			func() bool { r, _ := st.GetRoom(ctx, "r"); return r.MemberCount == 1 }},
		{"post", chat.EventMessageSend, func() error {
			_, err := svc.PostMessage(ctx, chat.PostMessage{RoomID: "r", Sender: chat.Sender{Type: chat.SenderUser, ID: "a"}, Text: "hi"})
			return err
		}, func() bool {
			ms, _ := st.ListMessages(ctx, chat.MessageQuery{RoomID: "r", Limit: 10})
			return len(ms) == 0
		}},
		{"rename", chat.EventRoomChanged, func() error { _, err := svc.RenameRoom(ctx, "r", "New"); return err },
			func() bool { r, _ := st.GetRoom(ctx, "r"); return r.Name == "R" }},
		{"block", chat.EventUserBlock, func() error { return svc.Block(ctx, "a", "b") },
			func() bool { return true }},
		{"leave", chat.EventRoomLeave, func() error { return svc.Leave(ctx, "r", "b") },
			func() bool { r, _ := st.GetRoom(ctx, "r"); return r.MemberCount == 2 }},
		{"delete room", chat.EventRoomRemove, func() error { return svc.DeleteRoom(ctx, "r") },
			func() bool { _, err := st.GetRoom(ctx, "r"); return err == nil }},
	}
	for _, s := range steps {
		before := countEvents()
		fs.failType = s.failType
		if err := s.run(); !errors.Is(err, errInjected) {
			t.Fatalf("%s with failing outbox: err %v", s.name, err)
		}
		if !s.unchanged() || countEvents() != before {
			t.Fatalf("%s: change or events committed although the outbox write failed", s.name)
		}
		fs.failType = ""
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if countEvents() <= before {
			t.Fatalf("%s: no event committed", s.name)
		}
	}
}
