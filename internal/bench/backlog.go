package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/store/sqlite"
)

// BacklogResult is what the backlog run measured.
type BacklogResult struct {
	Date            time.Time `json:"date"`
	Machine         Machine   `json:"machine"`
	Pending         int       `json:"pending_deliveries"`
	SeedSeconds     float64   `json:"seed_seconds"`
	FirstDeliveryS  float64   `json:"restart_to_first_delivery_seconds"`
	WatchSeconds    float64   `json:"watched_seconds"`
	Delivered       int64     `json:"delivered_while_watched"`
	PeakRSSMiB      float64   `json:"server_peak_rss_mib"`
	DatabaseFileMiB float64   `json:"database_file_mib"`
}

// Backlog seeds n pending deliveries to one endpoint on an embedded database, then starts
// a fresh server process (this binary, `serve`) on it and measures the time from process
// start to the first delivery at the receiver, and the server's peak RSS while it works
// through the backlog for watch.
func Backlog(ctx context.Context, n int, watch time.Duration, progress io.Writer) (BacklogResult, error) {
	res := BacklogResult{Date: time.Now().UTC(), Machine: machine(), Pending: n}
	dir, err := os.MkdirTemp("", "chathooks-backlog-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	recv, err := StartReceiver("ok", 0, &SendTimes{}, &Latencies{})
	if err != nil {
		return res, err
	}
	defer recv.Close()
	token := "bench-" + randomToken()

	// 1. A server creates the endpoint and one real event, then stops.
	log := slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(ctx, app.Config{Addr: "127.0.0.1:0", DataDir: dir, AdminToken: token, AllowPrivateTargets: true, Version: "bench"}, log, io.Discard)
	if err != nil {
		return res, err
	}
	if err := a.Start(); err != nil {
		return res, err
	}
	cl := api{base: a.URL(), token: token, client: newClient(4)}
	var ep struct{ ID string }
	err = cl.do(ctx, "POST", "/endpoints", map[string]any{"url": recv.URL, "event_types": []string{"*"}, "format": "standard"}, &ep)
	if err == nil {
		err = cl.do(ctx, "POST", "/users", map[string]any{"id": "u", "name": "U"}, nil)
	}
	if err == nil {
		err = cl.do(ctx, "POST", "/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"u"}}, nil)
	}
	var msg struct{ ID string }
	if err == nil {
		err = cl.do(ctx, "POST", "/rooms/r/messages", map[string]any{"sender_id": "u", "text": "backlog"}, &msg)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	_ = a.Shutdown(sctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("bench: backlog setup: %w", err)
	}

	// 2. Seed n pending deliveries of that message's event.
	fmt.Fprintf(progress, "seeding %d pending deliveries...\n", n)
	t0 := time.Now()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		return res, err
	}
	evs, _, err := st.Events(ctx, 0, 100)
	var evt chat.Event
	for _, e := range evs {
		if e.Type == chat.EventMessageSend {
			evt = e
		}
	}
	if err != nil || evt.ID == "" {
		st.Close()
		return res, fmt.Errorf("bench: backlog event not found: %v", err)
	}
	const chunk = 5000
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		ds := make([]chat.Delivery, k)
		now := time.Now()
		for i := range ds {
			ds[i] = chat.Delivery{ID: ids.New("dlv", now), EventID: evt.ID, EventType: evt.Type, EndpointID: ep.ID, Status: chat.DeliveryPending, CreatedAt: now}
		}
		if err := st.Write(ctx, func(tx chat.Tx) error { return tx.InsertDeliveries(ds) }); err != nil {
			st.Close()
			return res, fmt.Errorf("bench: seed backlog: %w", err)
		}
	}
	if err := st.Close(); err != nil {
		return res, err
	}
	res.SeedSeconds = time.Since(t0).Seconds()
	if fi, err := os.Stat(dir + "/chathooks.db"); err == nil {
		res.DatabaseFileMiB = float64(fi.Size()) / (1 << 20)
	}
	base := recv.Requests()

	// 3. A fresh server process on the backlog.
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, exe, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--admin-token", token, "--allow-private-targets", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, progress
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := start.Add(60 * time.Second)
	for recv.Requests() == base {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("bench: no delivery within 60s of restart")
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	res.FirstDeliveryS = time.Since(start).Seconds()
	fmt.Fprintf(progress, "first delivery %.3fs after the server process started; watching for %s...\n", res.FirstDeliveryS, watch)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(watch):
	}
	res.WatchSeconds = time.Since(start).Seconds()
	res.Delivered = recv.Requests() - base
	res.PeakRSSMiB = processHWM(cmd.Process.Pid)
	return res, nil
}

// processHWM is a process's peak resident set in MiB (Linux).
func processHWM(pid int) float64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// WriteBacklog prints the backlog result.
func WriteBacklog(w io.Writer, r BacklogResult) {
	fmt.Fprintf(w, "\nchathooks bench --backlog — %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d GiB, %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemoryGiB, r.Machine.GoVersion)
	fmt.Fprintf(w, "  %-40s %d (seeded in %.1fs; database %.0f MiB)\n", "pending deliveries at restart", r.Pending, r.SeedSeconds, r.DatabaseFileMiB)
	fmt.Fprintf(w, "  %-40s %.3f s\n", "server process start → first delivery", r.FirstDeliveryS)
	fmt.Fprintf(w, "  %-40s %d in %.1f s\n", "delivered while watched", r.Delivered, r.WatchSeconds)
	fmt.Fprintf(w, "  %-40s %.0f MiB\n", "server peak RSS", r.PeakRSSMiB)
}
