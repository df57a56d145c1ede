package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/cputime"
	"github.com/chathooks/chathooks/internal/ids"
)

// RowsResult is the bare handler's load with each request's post rows written through a
// server's store: the floor a post stands on, with none of the request's own work.
type RowsResult struct {
	BaselineResult
	// Rows is how many requests were answered after their rows committed (warm-up included).
	Rows int64 `json:"rows"`
	// The server's writer in the measured window.
	WriterFigures
	// DiskWriteKBPerRow is what the process caused to be written to storage in the measured
	// window over the requests answered in it (Linux; SQLite's log and checkpoints).
	DiskWriteKBPerRow float64 `json:"disk_write_kb_per_row,omitempty"`
}

// benchText is what every post of the load says after its "chbench:<n>; " (the bare
// handlers' load sends n = 1).
const benchText = "disk usage 91% on host-42:/var, see runbook"

// rowsBaseline measures the bare handler's load with its handler writing, before it
// answers, what a Chime post without mentions or endpoints writes: the message row and its
// outbox event, numbered in its room, through the store of a server started as the run's
// are (the same options, durability and group commit) and set up as the run's is (the
// same rooms and webhooks, made through its API), for the run's duration (10 s at most)
// after its warm-up (3 s at most). The request is not parsed, authenticated or
// rendered and no payload is encoded: a copy of one made beforehand, the size of a post's,
// is stored. So the rate is what the machine's HTTP and storage allow a post, and the gap
// to the posts is the server's own work on them.
func rowsBaseline(ctx context.Context, c Config) (RowsResult, error) {
	dir, cleanup, err := dataDir(c)
	if err != nil {
		return RowsResult{}, err
	}
	defer cleanup()
	if c.DatabaseURL != "" {
		// A schema of its own, dropped afterwards: the posts' run then starts on the
		// database as it was, not with these rows in its tables and their autovacuum.
		u, drop, err := scratchSchema(ctx, c.DatabaseURL)
		if err != nil {
			return RowsResult{}, err
		}
		defer drop()
		c.DatabaseURL = u
	}
	token := "bench-" + randomToken()
	log := slog.New(slog.NewTextHandler(c.Progress, &slog.HandlerOptions{Level: slog.LevelError}))
	node, err := app.New(ctx, nodeConfig(c, filepath.Join(dir, "rows"), token), log, io.Discard)
	if err != nil {
		return RowsResult{}, fmt.Errorf("bench: start server: %w", err)
	}
	if err := node.Start(); err != nil {
		return RowsResult{}, fmt.Errorf("bench: start server: %w", err)
	}
	client := newClient(c.Concurrency)
	defer func() {
		client.CloseIdleConnections()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = node.Shutdown(sctx)
	}()
	st := node.Store

	// The rooms are made as the posts' run makes its own, through the API, so the tables
	// hold what they hold there (each room's and webhook's creation event among them: a
	// post's event goes in beside its room's).
	run := randomToken()[:8]
	if _, err := setupRooms(ctx, c, api{base: node.URL(), token: token, client: client}, []*app.App{node}, run); err != nil {
		return RowsResult{}, err
	}
	rooms := make([]chat.RoomRef, c.Rooms)
	for i := range rooms {
		id := benchRoom(run, i)
		rooms[i] = chat.RoomRef{ID: id, Name: "Bench " + id}
	}
	sender := chat.Sender{Type: chat.SenderWebhook, ID: ids.New("wh", time.Now()), Name: "bench"}
	text := "chbench:1; " + benchText
	html := "<p>" + text + "</p>\n"
	now := time.Now().UTC()
	sample := chat.Message{ID: ids.New("msg", now), RoomID: rooms[0].ID, Sender: sender, Text: text, Format: "markdown",
		HTML: html, Mentions: []chat.Mention{}, CreatedAt: now}
	sample.ThreadID = sample.ID
	payload, err := json.Marshal(chat.MessagePayload{Room: rooms[0], Message: sample})
	if err != nil {
		return RowsResult{}, err
	}

	var rows atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil || i < 0 || i >= len(rooms) {
			http.Error(w, "no such room", http.StatusNotFound)
			return
		}
		room := rooms[i]
		now := time.Now().UTC()
		// The text, HTML and payload are fresh copies a request, as a post's are: the same
		// bytes every time would stay in the CPU's caches and cost less than a post's.
		m := sample
		m.ID, m.RoomID, m.CreatedAt = ids.New("msg", now), room.ID, now
		m.ThreadID, m.Text, m.HTML = m.ID, strings.Clone(sample.Text), strings.Clone(sample.HTML)
		payload := bytes.Clone(payload)
		err = st.Write(r.Context(), func(tx chat.Tx) error {
			if err := tx.InsertMessage(m); err != nil {
				return err
			}
			return tx.AppendEvent(&chat.Event{ID: ids.New("evt", now), Type: chat.EventMessageSend, RoomID: room.ID, CreatedAt: now, Payload: payload})
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rows.Add(1)
		_, _ = w.Write([]byte("ok"))
	})
	var c0, c1 commitSample
	var w0, w1 uint64
	var disk0, disk1 bool
	warm := min(c.Warmup, 3*time.Second)
	// The clients pick the rooms as the posts' do (closedLoop): where a batch's rows go in
	// the indexes, and so how many pages a commit writes, follows from that order. (Taken
	// in order, a batch's rooms sat side by side and a request wrote 8–10 KB where a post
	// writes 15–18; spread as far apart as they go, 21–22.)
	b, err := closedLoop(ctx, c, handler, len(rooms), warm, min(c.Duration, 10*time.Second), func() func() {
		c0 = commitStats(ctx, client, []string{node.URL()})
		w0, disk0 = diskWrites()
		return func() {
			w1, disk1 = diskWrites()
			c1 = commitStats(ctx, client, []string{node.URL()})
		}
	})
	res := RowsResult{BaselineResult: b, Rows: rows.Load()}
	if err != nil {
		return res, err
	}
	res.WriterFigures = writerFigures(c0, c1, b.Seconds)
	if n := b.RequestsPerSec * b.Seconds; disk0 && disk1 && w1 >= w0 && n > 0 {
		res.DiskWriteKBPerRow = float64(w1-w0) / 1e3 / n
	}
	return res, nil
}

// scratchSchema creates an empty schema in the PostgreSQL database at base and returns a
// URL whose connections use it, and a function that drops it with everything in it.
func scratchSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("bench: database URL: %w", err)
	}
	schema := "chathooks_bench_" + randomToken()[:12]
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("bench: create a schema for the rows baseline: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}
	return u.String(), drop, nil
}

// closedLoop serves handler on loopback and posts the load's body to it from c.Concurrency
// keep-alive clients, each sending its next request when the last is answered: warm-up
// unmeasured, then dur measured. With rooms > 0 each request's path names a room ("/n",
// n below rooms) as the posts' bursty load picks them: client w cycles through rooms w,
// w + c.Concurrency, … at its own pace. window, if set, is called as the measured window
// opens and the function it returns as it closes.
func closedLoop(ctx context.Context, c Config, handler http.Handler, rooms int, warmup, dur time.Duration, window func() func()) (BaselineResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return BaselineResult{}, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: handler}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()
	client := newClient(c.Concurrency)
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/"
	roomURLs := make([]string, rooms) // made once, as the posts' load makes its rooms' URLs
	for i := range roomURLs {
		roomURLs[i] = url + strconv.Itoa(i)
	}
	body := []byte(`{"Content":"chbench:1; ` + benchText + `"}`)
	var lat Latencies
	var n atomic.Int64
	var measuring atomic.Bool
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := 0 // client w's first room; with more clients than rooms, some share
			if rooms > 0 {
				first = w % rooms
			}
			room := first
			for lctx.Err() == nil {
				u := url
				if rooms > 0 {
					u = roomURLs[room]
					if room += c.Concurrency; room >= rooms {
						room = first
					}
				}
				t := time.Now()
				status, err := postJSON(client, u, "", "", body)
				if err != nil || status != http.StatusOK {
					if lctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				if measuring.Load() {
					n.Add(1)
					lat.Add(time.Since(t))
				}
			}
		}()
	}
	stopLoad := func() { cancel(); wg.Wait() }
	timer := time.NewTimer(warmup)
	defer timer.Stop()
	if !sleepUntil(ctx, timer, time.Now().Add(warmup)) {
		stopLoad()
		return BaselineResult{}, ctx.Err()
	}
	closeWindow := func() {}
	if window != nil {
		closeWindow = window()
	}
	measuring.Store(true)
	start, cpu0 := time.Now(), cputime.Process()
	ok := sleepUntil(ctx, timer, start.Add(dur))
	measuring.Store(false)
	elapsed, cpu := time.Since(start).Seconds(), cputime.Process()-cpu0
	closeWindow()
	stopLoad()
	if !ok {
		return BaselineResult{}, ctx.Err()
	}
	res := BaselineResult{RequestsPerSec: float64(n.Load()) / elapsed, Latency: lat.Summary(), CPUCores: cpu.Seconds() / elapsed, Seconds: elapsed}
	if f := failed.Load(); f > 0 {
		return res, fmt.Errorf("bench: %d requests to the handler failed", f)
	}
	return res, nil
}
