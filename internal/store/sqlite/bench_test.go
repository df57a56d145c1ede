package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/store/sqlite"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// BenchmarkConcurrentMessageInserts compares group commit with one commit per message:
// 64 concurrent producers (32 per CPU on 2 CPUs), each waiting for its own durable commit
// (WAL, synchronous=FULL) before the next, the way an HTTP handler waits before a 201.
// One op = one message row + its outbox event row (with the room sequence update).
func BenchmarkConcurrentMessageInserts(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts sqlite.Options
	}{
		{"group", sqlite.Options{}},
		{"single", sqlite.Options{Options: sqlstore.Options{NoGroupCommit: true}}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			var batches, batched atomic.Int64
			mode.opts.ObserveBatch = func(n int) { batches.Add(1); batched.Add(int64(n)) }
			s, err := sqlite.Open(ctx, b.TempDir(), mode.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rooms := 100
			if v, err := strconv.Atoi(os.Getenv("CHATHOOKS_BENCH_ROOMS")); err == nil && v > 0 {
				rooms = v
			}
			err = s.Write(ctx, func(tx chat.Tx) error {
				for i := 0; i < rooms; i++ {
					if err := tx.InsertRoom(chat.Room{ID: fmt.Sprintf("r%d", i), Name: "R", CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			payload := json.RawMessage(`{"room":{"id":"r"},"message":{"text":"` + string(make([]byte, 0)) + `disk full on host-42, see runbook"}}`)
			var n atomic.Int64
			lat := make(chan []time.Duration, 128)
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := n.Add(1)
					room := fmt.Sprintf("r%d", i%int64(rooms))
					now := time.Now()
					m := chat.Message{ID: ids.New("msg", now), RoomID: room, Sender: chat.Sender{Type: "webhook", ID: "wh", Name: "Alerts"},
						Text: "disk full on host-42", Format: "markdown", HTML: "<p>disk full on host-42</p>", Mentions: []chat.Mention{}, CreatedAt: now}
					m.ThreadID = m.ID
					t0 := time.Now()
					err := s.Write(ctx, func(tx chat.Tx) error {
						if err := tx.InsertMessage(m); err != nil {
							return err
						}
						return tx.AppendEvent(&chat.Event{ID: ids.New("evt", now), Type: chat.EventMessageSend, RoomID: room, CreatedAt: now, Payload: payload})
					})
					mine = append(mine, time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
				}
				lat <- mine
			})
			elapsed := time.Since(start)
			b.StopTimer()
			close(lat)
			storetest.ReportWrites(b, lat, elapsed, batched.Load(), batches.Load())
		})
	}
}
