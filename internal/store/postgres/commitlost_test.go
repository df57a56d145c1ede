package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// lostAfterCommit is a writer connection whose COMMIT (alone or ending a pipeline), once
// armed, runs and then reports the connection lost: the COMMIT ran, the answer never came.
type lostAfterCommit struct {
	sqlstore.WriterConn
	armed atomic.Bool
}

var errLost = &chat.Error{Code: chat.CodeUnavailable, Message: "connection lost"}

func (c *lostAfterCommit) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := c.WriterConn.Exec(ctx, q, args...)
	if err == nil && q == "COMMIT" && c.armed.CompareAndSwap(true, false) {
		return 0, errLost
	}
	return n, err
}

func (c *lostAfterCommit) Pipeline(ctx context.Context, stmts []sqlstore.Stmt, scan func(sqlstore.Row) error) (int64, int, error) {
	n, failed, err := c.WriterConn.(sqlstore.Pipeliner).Pipeline(ctx, stmts, scan)
	if err == nil && stmts[len(stmts)-1].SQL == "COMMIT" && c.armed.CompareAndSwap(true, false) {
		return 0, len(stmts) - 1, errLost
	}
	return n, failed, err
}

// A write whose COMMIT ran but whose connection was lost before the answer came is answered
// unavailable and not run again: running it again would write it twice (or fail it on its
// own first write, as "already exists").
func TestLostCommitIsNotRunAgain(t *testing.T) {
	t.Parallel()
	s, conn := openWrapped(t, postgres.Options{}, func(w sqlstore.WriterConn) *lostAfterCommit { return &lostAfterCommit{WriterConn: w} })
	ctx := context.Background()
	now := time.Now()
	conn.armed.Store(true)
	err := s.Write(ctx, func(tx chat.Tx) error {
		return tx.InsertRoom(chat.Room{ID: "r-lost", Name: "R", CreatedAt: now, UpdatedAt: now})
	})
	if conn.armed.Load() {
		t.Fatal("the write never committed")
	}
	if chat.ErrorCode(err) != chat.CodeUnavailable {
		t.Fatalf("write whose commit answer was lost: %v, want unavailable", err)
	}
	if _, err := s.GetRoom(ctx, "r-lost"); err != nil {
		t.Fatalf("the committed room: %v", err)
	}
	// The writer goes on.
	if err := s.Write(ctx, func(tx chat.Tx) error {
		return tx.InsertRoom(chat.Room{ID: "r-next", Name: "R", CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
}
