package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// BenchmarkConcurrentMessageInserts measures the PostgreSQL writers: 64 concurrent
// producers (32 per CPU on 2 CPUs), each waiting for its own commit before the next, the
// way an HTTP handler waits before a 201. "insert": one op = one message row + its outbox
// event (with the room sequence update); "post": the statements the writer runs for a
// webhook post (room read, message, room agents, event, endpoint routes).
func BenchmarkConcurrentMessageInserts(b *testing.B) {
	for _, shape := range []string{"insert", "post"} {
		b.Run(shape, func(b *testing.B) {
			ctx := context.Background()
			var batches, batched atomic.Int64
			s, err := postgres.Open(ctx, pgtest.URL(b), postgres.Options{Options: sqlstore.Options{
				ObserveBatch: func(n int) { batches.Add(1); batched.Add(int64(n)) }}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const rooms = 100
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
			payload := json.RawMessage(`{"room":{"id":"r"},"message":{"text":"disk full on host-42, see runbook"}}`)
			var n atomic.Int64
			lat := make(chan []time.Duration, 128)
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := n.Add(1)
					room := fmt.Sprintf("r%d", i%rooms)
					now := time.Now()
					m := chat.Message{ID: ids.New("msg", now), RoomID: room, Sender: chat.Sender{Type: "webhook", ID: "wh", Name: "Alerts"},
						Text: "disk full on host-42", Format: "markdown", HTML: "<p>disk full on host-42</p>", Mentions: []chat.Mention{}, CreatedAt: now}
					m.ThreadID = m.ID
					t0 := time.Now()
					err := s.Write(ctx, func(tx chat.Tx) error {
						if shape == "post" {
							if _, err := tx.GetRoom(room); err != nil {
								return err
							}
						}
						if err := tx.InsertMessage(m); err != nil {
							return err
						}
						var agents []string
						if shape == "post" {
							var err error
							if agents, err = tx.RoomAgents(room); err != nil {
								return err
							}
						}
						if err := tx.AppendEvent(&chat.Event{ID: ids.New("evt", now), Type: chat.EventMessageSend, RoomID: room, CreatedAt: now, Payload: payload, Agents: agents}); err != nil {
							return err
						}
						if shape == "post" {
							_, err := tx.EndpointRoutes()
							return err
						}
						return nil
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
