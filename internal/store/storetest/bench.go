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
	"github.com/chathooks/chathooks/internal/cputime"
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

// BenchDeliveryLifecycle measures the writer's cost of a delivery on s: each op is one
// delivery row written leased to its node (as a post's fan-out writes it) and, in a later
// transaction, its successful attempt recorded (as the engine records it). Transactions
// carry 32 new deliveries over 4 endpoints and the outcomes of the previous 32, the mix of
// a node keeping up with its posts; one writer, so ns/op is the writer's time a delivery.
func BenchDeliveryLifecycle(b *testing.B, s chat.Store) {
	ctx := context.Background()
	const endpoints, perTx = 4, 32
	err := s.Write(ctx, func(tx chat.Tx) error {
		for i := range endpoints {
			if err := tx.InsertEndpoint(endpoint(fmt.Sprintf("bench%d", i), "", "*")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	owner := "node-" + ids.New("n", time.Now())
	var prev []chat.Delivery
	b.ResetTimer()
	cpu0 := cputime.Process()
	for done := 0; done < b.N; done += len(prev) {
		now := time.Now()
		ds := make([]chat.Delivery, min(perTx, b.N-done))
		for i := range ds {
			ds[i] = chat.Delivery{ID: ids.New("dlv", now), EventID: "evt_bench", EventType: chat.EventMessageSend,
				EndpointID: fmt.Sprintf("bench%d", i%endpoints), CreatedAt: now}
		}
		rs := make([]chat.DeliveryResult, len(prev))
		for i, d := range prev {
			rs[i] = chat.DeliveryResult{ID: d.ID, EndpointID: d.EndpointID, Owner: owner, Status: chat.DeliverySucceeded,
				Attempt: chat.Attempt{At: now, StatusCode: 200, LatencyMS: 1}}
		}
		err := s.Write(ctx, func(tx chat.Tx) error {
			if err := tx.InsertDeliveriesLeased(ds, chat.Lease{Owner: owner, Until: now.Add(time.Minute)}); err != nil {
				return err
			}
			return tx.CompleteDeliveries(rs)
		})
		if err != nil {
			b.Fatal(err)
		}
		prev = ds
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
