package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
)

// terminateBackends kills, from another connection, every server process whose
// application_name is app: what a PostgreSQL restart or a failover does to this store's
// connections, without stopping the server other tests share.
func terminateBackends(t *testing.T, app string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// withAppName tags the store's connections so the test can find their server processes.
func withAppName(t *testing.T, raw, app string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestWritersReconnectAfterBackendsKilled: the server drops every connection of the store
// (writers included) between writes and in the middle of a write; each later write takes a
// fresh connection, readiness says so, and no write is lost or half-applied.
func TestWritersReconnectAfterBackendsKilled(t *testing.T) {
	t.Parallel()
	app := fmt.Sprintf("chtest-reconnect-%d", time.Now().UnixNano())
	s := pgtest.OpenURL(t, withAppName(t, pgtest.URL(t), app))
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	insert := func(id string) error {
		return s.Write(ctx, func(tx chat.Tx) error {
			return tx.InsertUser(chat.User{ID: id, Name: id, Kind: chat.KindHuman, CreatedAt: now})
		})
	}
	if err := insert("before"); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		if n := terminateBackends(t, app); n == 0 {
			t.Fatal("no backend of the store found to terminate")
		}
		// Idle connections were killed: BEGIN finds its connection dead and retries on a
		// fresh one, so even the first write after the kill succeeds.
		id := fmt.Sprint("after-", round)
		if err := insert(id); err != nil {
			t.Fatalf("round %d: first write after the kill: %v", round, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("round %d: readiness after the kill: %v", round, err)
		}
		if _, err := s.GetUser(ctx, id, now); err != nil {
			t.Fatalf("round %d: written user not found: %v", round, err)
		}
	}

	// Killed in the middle of a transaction: that write fails as unavailable (nothing of
	// it is committed) and the next one succeeds.
	err := s.Write(ctx, func(tx chat.Tx) error {
		if err := tx.InsertUser(chat.User{ID: "mid", Name: "mid", Kind: chat.KindHuman, CreatedAt: now}); err != nil {
			return err
		}
		terminateBackends(t, app)
		return tx.InsertUser(chat.User{ID: "mid2", Name: "mid2", Kind: chat.KindHuman, CreatedAt: now})
	})
	if chat.ErrorCode(err) != chat.CodeUnavailable {
		t.Fatalf("write whose connection died: %v (code %q), want unavailable", err, chat.ErrorCode(err))
	}
	if err := insert("last"); err != nil {
		t.Fatalf("write after a mid-transaction kill: %v", err)
	}
	for _, id := range []string{"mid", "mid2"} {
		if _, err := s.GetUser(ctx, id, now); !chat.IsCode(err, chat.CodeNotFound) {
			t.Fatalf("user %s of the killed transaction: %v, want not found", id, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("readiness: %v", err)
	}
}

// A whole batch (BEGIN to COMMIT in one round trip) sent on a connection the server
// dropped while it sat idle finds the connection ended before anything of it ran, and is
// sent once more on a fresh connection: the post succeeds, and is stored once.
func TestWholeBatchReconnectsAfterBackendsKilled(t *testing.T) {
	t.Parallel()
	app := fmt.Sprintf("chtest-whole-%d", time.Now().UnixNano())
	s, rt := openWrappedAt(t, withAppName(t, pgtest.URL(t), app), postgres.Options{Writers: 1}, newRoundTrips)
	ctx := context.Background()
	now := time.Now()
	if err := s.Write(ctx, func(tx chat.Tx) error {
		return tx.InsertRoom(chat.Room{ID: "r", Name: "R", CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	var agents, routes []string
	if err := s.Write(ctx, postIn("r", "m0", now, &agents, &routes)); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		if n := terminateBackends(t, app); n == 0 {
			t.Fatal("no backend of the store found to terminate")
		}
		id := fmt.Sprint("m", round+1)
		rt.reset()
		if err := s.Write(ctx, postIn("r", id, now, &agents, &routes)); err != nil {
			t.Fatalf("round %d: first post after the kill: %v", round, err)
		}
		if sent := rt.trips(); len(sent) != 1 || !strings.HasPrefix(sent[0], "BEGIN") || !strings.HasSuffix(sent[0], "COMMIT") {
			t.Fatalf("round %d: round trips %q; want the whole batch (sent again inside the connection)", round, sent)
		}
		if _, err := s.GetMessage(ctx, "r", id); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
