package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// BenchmarkRawPostRows is the floor the store's writers are compared with: the rows one
// webhook post writes (the message, and its outbox event numbered after the room's newest),
// sent by two connections with nothing around them — no batch lock (so two connections may
// number a room's events alike: it is the rows' cost that is measured), no reads, no
// notifications —
// 20 posts a transaction, each transaction's statements in one round trip. One op is one
// post's rows. RAW_ROOMS, RAW_CONNS and RAW_PERTX change the rooms the posts are spread
// over (100), the connections (2) and the posts a transaction (20): one connection with the
// server's batch size is the shape of a node's single writer. RAW_AROUND adds, by name
// (comma-separated), what a node's batch has around the rows, to find what costs: "lock"
// (the batch lock after BEGIN), "guard" (the batch guard), "notify" (the commit
// notification naming the transaction's rooms) and "payload" (a message and an event payload
// the size of the server's for a short Markdown post). RAW_SET=1 sends a transaction's
// messages as one statement and its events as another, the set-based statements a node's
// writer sends (postgres.Dialect.InsertMessages and AppendRoomEvents).
func BenchmarkRawPostRows(b *testing.B) {
	ctx := context.Background()
	url := pgtest.URL(b)
	s, err := postgres.Open(ctx, url, postgres.Options{}) // the schema
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	rooms, perTx, conns := envInt("RAW_ROOMS", 100), envInt("RAW_PERTX", 20), envInt("RAW_CONNS", 2)
	now := time.Now().UnixMicro()
	for i := range rooms {
		if _, err := pool.Exec(ctx, `INSERT INTO rooms (id, name, created_at, updated_at) VALUES ($1, 'R', $2, $2)`, fmt.Sprintf("r%d", i), now); err != nil {
			b.Fatal(err)
		}
	}
	around := map[string]bool{}
	for _, a := range strings.Split(os.Getenv("RAW_AROUND"), ",") {
		around[strings.TrimSpace(a)] = true
	}
	var gen, version int64
	if err := pool.QueryRow(ctx, `SELECT g.n, v.version FROM room_cache_generation g, endpoint_version v WHERE g.id = 1 AND v.id = 1`).Scan(&gen, &version); err != nil {
		b.Fatal(err)
	}
	text, html := "disk full on host-42", "<p>disk full on host-42</p>"
	payload := `{"room":{"id":"r"},"message":{"text":"disk full on host-42, see runbook"}}`
	if around["payload"] {
		text = "chbench:1; disk usage 91% on host-42:/var, see runbook"
		html = "<p>" + text + "</p>\n"
		payload = `{"room":{"id":"bench-95ab1377-000019","name":"bench room 19","member_count":0},"message":{"id":"msg_01m8vnbn6fgs02m4r5698612e7","room_id":"bench-95ab1377-000019","thread_id":"msg_01m8vnbn6fgs02m4r5698612e7","sender":{"type":"webhook","id":"wh_01m8vnbn6fgs02m4r5698612e7","name":"bench"},"text":"` +
			text + `","format":"markdown","html":"<p>` + text + `</p>\n","mentions":[],"created_at":"2026-12-02T15:18:21.647379Z"}}`
	}
	withNotify, set := around["notify"], os.Getenv("RAW_SET") != ""
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := next.Add(int64(perTx)) - int64(perTx)
				if first >= int64(b.N) {
					return
				}
				batch := &pgx.Batch{}
				batch.Queue(`BEGIN`)
				if around["lock"] {
					batch.Queue(postgres.Dialect.BatchLock)
				}
				if around["guard"] {
					batch.Queue(`SELECT chathooks_batch_guard($1, $2)`, gen, version)
				}
				var notify strings.Builder
				notify.WriteString("node-1")
				var msgs, evs [][]any // with set: each statement's arguments
				for k := first; k < min(first+int64(perTx), int64(b.N)); k++ {
					room := fmt.Sprintf("r%d", k%int64(rooms))
					t := time.Now()
					id := ids.New("msg", t)
					if set {
						msgs = append(msgs, []any{id, room, id, "webhook", "wh", "Alerts", "", text, "markdown", html, "[]", t.UnixMicro(), int64(0)})
						evs = append(evs, []any{room, ids.New("evt", t), "group_channel:message_send", t.UnixMicro(), payload, "[]"})
						if withNotify {
							notify.WriteString("\n" + room)
						}
						continue
					}
					batch.Queue(`INSERT INTO messages (id, room_id, thread_id, sender_type, sender_id, sender_name, sender_avatar, text, format, html, mentions, created_at, relay_hops)
						VALUES ($1, $2, $1, 'webhook', 'wh', 'Alerts', '', $4, 'markdown', $5, '[]', $3, 0)`, id, room, t.UnixMicro(), text, html)
					if withNotify {
						notify.WriteString("\n" + room)
					}
					batch.Queue(`INSERT INTO events (id, type, room_id, room_seq, created_at, payload, agents)
						SELECT $2, 'group_channel:message_send', rooms.id,
							COALESCE((SELECT MAX(e.room_seq) FROM events e WHERE e.room_id = rooms.id AND e.room_id <> ''), 0) + 1, $3, $4, '[]'
						FROM rooms WHERE rooms.id = $1`,
						room, ids.New("evt", t), t.UnixMicro(), payload)
				}
				if set {
					mcols, _ := sqlstore.ArgColumns(msgs) // strings and int64s only
					ecols, _ := sqlstore.ArgColumns(evs)
					batch.Queue(postgres.Dialect.InsertMessages, mcols...)
					batch.Queue(postgres.Dialect.AppendRoomEvents, ecols...)
				}
				if withNotify {
					batch.Queue(`SELECT pg_notify($1, $2)`, postgres.NotifyChannel, notify.String())
				}
				batch.Queue(`COMMIT`)
				if err := pool.SendBatch(ctx, batch).Close(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "posts/s")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
