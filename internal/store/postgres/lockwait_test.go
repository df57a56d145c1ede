package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// beginning wraps a writer connection and closes entered when the writer first begins a
// batch with the batch lock (BeginRead), before the text is sent.
type beginning struct {
	sqlstore.WriterConn
	once    sync.Once
	entered chan struct{}
}

func (w *beginning) BeginRead(ctx context.Context, q string) ([]int64, error) {
	w.once.Do(func() { close(w.entered) })
	return w.WriterConn.(sqlstore.BeginReader).BeginRead(ctx, q)
}

func (w *beginning) Pipeline(ctx context.Context, stmts []sqlstore.Stmt, scan func(sqlstore.Row) error) (int64, int, error) {
	return w.WriterConn.(sqlstore.Pipeliner).Pipeline(ctx, stmts, scan)
}

// A batch begun while another transaction holds the batch lock waits for it, and the
// store reports the wait: at least the time the lock was held after the writer began.
func TestLockWaitObserved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	var mu sync.Mutex
	var waits []time.Duration
	o := postgres.Options{Options: sqlstore.Options{NodeID: "node-a", ObserveLockWait: func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}}, Writers: 1, ReadConns: 1}
	s, w := openWrappedAt(t, url, o, func(c sqlstore.WriterConn) *beginning {
		return &beginning{WriterConn: c, entered: make(chan struct{})}
	})

	// Another session takes the batch lock, as another node's batch does.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck
	if _, err := holder.Exec(ctx, postgres.Dialect.BatchLock); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- s.Write(ctx, func(tx chat.Tx) error {
			return tx.InsertUser(chat.User{ID: "u", Name: "U", Kind: chat.KindHuman, CreatedAt: now})
		})
	}()
	select {
	case <-w.entered:
	case err := <-done:
		t.Fatalf("the write finished while the batch lock was held: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never began its batch")
	}
	began := time.Now()
	// Hold the lock until PostgreSQL shows a session waiting for it (this writer, or
	// another test's on the same database: either way this writer waits from began on).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waits for the batch lock")
		}
		time.Sleep(time.Millisecond) // polling pg_locks, with a deadline: one query a millisecond, not back to back
	}
	held := time.Since(began) // the lock is released after this, in the commit
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) == 0 {
		t.Fatal("no lock wait observed")
	}
	if waits[0] < held {
		t.Fatalf("observed a wait of %v; the lock was held %v after the writer began", waits[0], held)
	}
}
