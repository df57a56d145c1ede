package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/ids"
)

// BenchMessageWrites runs a write benchmark on s, whose ObserveBatch adds to batches and
// batched: 32 producers per CPU, each waiting for its own commit before the next, the
// way an HTTP handler waits before a 201, over rooms rooms. One op is one message row and
// its outbox event (with the room sequence update); with post, also what the writer reads
// for a webhook post (the room with its agent members, the endpoint routes).
func BenchMessageWrites(b *testing.B, s chat.Store, rooms int, post bool, batches, batched *atomic.Int64) {
	ctx := context.Background()
	err := s.Write(ctx, func(tx chat.Tx) error {
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
			room := fmt.Sprintf("r%d", n.Add(1)%int64(rooms))
			now := time.Now()
			m := chat.Message{ID: ids.New("msg", now), RoomID: room, Sender: chat.Sender{Type: "webhook", ID: "wh", Name: "Alerts"},
				Text: "disk full on host-42", Format: "markdown", HTML: "<p>disk full on host-42</p>", Mentions: []chat.Mention{}, CreatedAt: now}
			m.ThreadID = m.ID
			t0 := time.Now()
			err := s.Write(ctx, func(tx chat.Tx) error {
				var agents []string
				if post {
					var err error
					if _, agents, err = tx.RoomForPost(room); err != nil {
						return err
					}
				}
				if err := tx.InsertMessage(m); err != nil {
					return err
				}
				if err := tx.AppendEvent(&chat.Event{ID: ids.New("evt", now), Type: chat.EventMessageSend, RoomID: room, CreatedAt: now, Payload: payload, Agents: agents}); err != nil {
					return err
				}
				if post {
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
	reportWrites(b, lat, elapsed, batched.Load(), batches.Load())
}

// reportWrites reports a write benchmark's figures: writes per second over elapsed, the
// median and 99th-percentile latency of the writes collected on lat (closed by the caller),
// and how many writes shared each commit.
func reportWrites(b *testing.B, lat <-chan []time.Duration, elapsed time.Duration, batched, batches int64) {
	b.Helper()
	var all []time.Duration
	for l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	if batches > 0 {
		b.ReportMetric(float64(batched)/float64(batches), "msgs/commit")
	}
}
