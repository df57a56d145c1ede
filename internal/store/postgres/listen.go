package postgres

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel carries "these rooms have new events" between nodes.
const NotifyChannel = "chathooks_events"

// Listen receives other nodes' commit notifications and calls onRooms with the rooms that
// got events, until ctx ends. Notifications from nodeID itself are skipped (that node
// publishes in process). The connection is re-established after failures; once it
// listens (first time included) onRooms(nil) is called so the caller can catch up on
// anything committed before.
func Listen(ctx context.Context, url, nodeID string, log *slog.Logger, onRooms func(rooms []string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, nodeID, onRooms, func() {
			backoff = 100 * time.Millisecond
			onRooms(nil)
		})
		if ctx.Err() != nil {
			return
		}
		log.Warn("postgres listen connection lost; reconnecting", slog.Any("error", err), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, url, nodeID string, onRooms func([]string), connected func()) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, rooms, _ := strings.Cut(n.Payload, "\n")
		if from == nodeID || rooms == "" {
			continue
		}
		onRooms(strings.Split(rooms, "\n"))
	}
}
