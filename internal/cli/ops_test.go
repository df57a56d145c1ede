package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/cli"
	"github.com/chathooks/chathooks/webhook"
)

// run runs the CLI against s and returns its exit code, stdout and stderr.
func run(t *testing.T, s *apptest.Server, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if s != nil {
		args = append(args, "--server", s.URL, "--token", apptest.AdminToken)
	}
	code := cli.Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, s *apptest.Server, args ...string) string {
	t.Helper()
	code, out, errs := run(t, s, args...)
	if code != 0 {
		t.Fatalf("chathooks %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "chathooks ") {
		t.Fatalf("--version: %d %q", code, out)
	}
}

func TestRoomsCommands(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})

	out := mustRun(t, s, "rooms", "create", "ops", "--name", "Ops room", "-m", "alice")
	if !strings.Contains(out, `created room ops ("Ops room", 1 members)`) {
		t.Fatalf("rooms create: %q", out)
	}
	var created struct{ ID, Name string }
	mustJSON(t, mustRun(t, s, "rooms", "create", "dev", "--json"), &created)
	if created.ID != "dev" || created.Name != "dev" {
		t.Fatalf("rooms create --json: %+v", created)
	}
	out = mustRun(t, s, "rooms")
	if !regexp.MustCompile(`(?m)^ops\s+Ops room\s+1\s+2\s`).MatchString(out) || !strings.Contains(out, "\ndev ") {
		t.Fatalf("rooms (list by default):\n%s", out)
	}
	var list struct {
		Items      []struct{ ID string } `json:"items"`
		NextCursor string                `json:"next_cursor"`
	}
	code, jsonOut, errs := run(t, s, "rooms", "list", "--json", "--limit", "1")
	if code != 0 {
		t.Fatalf("rooms list --json: %d %s", code, errs)
	}
	mustJSON(t, jsonOut, &list)
	if len(list.Items) != 1 || list.NextCursor == "" {
		t.Fatalf("rooms list --limit 1: %+v", list)
	}
	mustJSON(t, mustRun(t, s, "rooms", "list", "--json", "--cursor", list.NextCursor), &list)
	if len(list.Items) != 1 {
		t.Fatalf("second page: %+v", list)
	}

	if code, _, errs := run(t, s, "rooms", "create", "ops"); code != 1 || !strings.Contains(errs, "already_exists (409)") {
		t.Fatalf("duplicate room: %d %q", code, errs)
	}
}

func TestClientFlagsFromEnvironment(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	t.Setenv("CHATHOOKS_SERVER", s.URL)
	t.Setenv("CHATHOOKS_TOKEN", apptest.AdminToken)
	if out := mustRun(t, nil, "rooms", "create", "env-room"); !strings.Contains(out, "created room env-room") {
		t.Fatalf("with the environment: %q", out)
	}
	t.Setenv("CHATHOOKS_TOKEN", "wrong")
	if code, _, errs := run(t, nil, "rooms"); code != 1 || !strings.Contains(errs, "unauthenticated (401)") {
		t.Fatalf("wrong token: %d %q", code, errs)
	}
	t.Setenv("CHATHOOKS_TOKEN", "")
	if code, _, errs := run(t, nil, "rooms"); code == 0 || !strings.Contains(errs, "no admin token") {
		t.Fatalf("no token: %d %q", code, errs)
	}
}

var urlLine = regexp.MustCompile(`(?m)^  (chime|google_chat|slack|mattermost):\s+(\S+)$`)

func TestWebhooksCommands(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Ops"})

	out := mustRun(t, s, "webhooks", "create", "ops", "--name", "CI")
	urls := map[string]string{}
	for _, m := range urlLine.FindAllStringSubmatch(out, -1) {
		urls[m[1]] = m[2]
	}
	if len(urls) != 4 {
		t.Fatalf("webhooks create printed %d URLs:\n%s", len(urls), out)
	}
	id := regexp.MustCompile(`wh_\w+`).FindString(out)
	// Each printed URL posts into the room.
	posts := map[string]string{
		"chime": `{"Content":"from chime"}`, "google_chat": `{"text":"from google"}`,
		"slack": `{"text":"from slack"}`, "mattermost": `{"text":"from mattermost"}`,
	}
	for dialect, body := range posts {
		resp, err := http.Post(urls[dialect], "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s URL answered %d", dialect, resp.StatusCode)
		}
	}

	if out := mustRun(t, s, "webhooks", "list", "ops"); !regexp.MustCompile(`(?m)^` + id + `\s+CI\s+-\s`).MatchString(out) {
		t.Fatalf("webhooks list:\n%s", out)
	}
	var regen struct {
		ID   string
		URLs map[string]string `json:"urls"`
	}
	mustJSON(t, mustRun(t, s, "webhooks", "regenerate", id, "--json"), &regen)
	if regen.ID != id || regen.URLs["slack"] == "" || regen.URLs["slack"] == urls["slack"] {
		t.Fatalf("webhooks regenerate --json: %+v", regen)
	}
	if resp, err := http.Post(urls["slack"], "application/json", strings.NewReader(`{"text":"old"}`)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("old slack URL after regenerate: %v %v", resp, err)
	}
	if out := mustRun(t, s, "webhooks", "delete", id); out != "deleted webhook "+id+"\n" {
		t.Fatalf("webhooks delete: %q", out)
	}
	if out := mustRun(t, s, "webhooks", "list", "ops"); strings.Contains(out, id) {
		t.Fatalf("deleted webhook still listed:\n%s", out)
	}
	if code, _, errs := run(t, s, "webhooks", "delete", id); code != 1 || !strings.Contains(errs, "(404)") {
		t.Fatalf("deleting twice: %d %q", code, errs)
	}
}

// verifiedReceiver is an httptest server behind the webhook middleware, recording the
// webhook-id of each delivery it accepted.
type verifiedReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string // webhook-id of every verified delivery, in arrival order
}

func newVerifiedReceiver(t *testing.T, secret string) *verifiedReceiver {
	v, err := webhook.NewStandard(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &verifiedReceiver{}
	rc.Server = httptest.NewServer(webhook.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
		rc.mu.Unlock()
	})))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *verifiedReceiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, x := range rc.ids {
		if x == id || id == "" {
			n++
		}
	}
	return n
}

func TestEndpointsAndSendCommands(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Ops", "member_ids": []string{"alice"}})
	secret, _ := webhook.NewStandardSecret()
	rc := newVerifiedReceiver(t, secret)

	out := mustRun(t, s, "endpoints", "create", rc.URL, "--events", "group_channel:message_send,group_channel:message_update", "--secret", secret)
	ep := regexp.MustCompile(`created endpoint (ep_\w+) \(standard, active\)`).FindStringSubmatch(out)
	if ep == nil || !strings.Contains(out, "secret: "+secret) || !strings.Contains(out, "events: group_channel:message_send,group_channel:message_update") {
		t.Fatalf("endpoints create:\n%s", out)
	}
	epID := ep[1]
	if out := mustRun(t, s, "endpoints"); !regexp.MustCompile(`(?m)^` + epID + `\s+standard\s+active\s+group_channel:message_send,group_channel:message_update\s+` + regexp.QuoteMeta(rc.URL)).MatchString(out) {
		t.Fatalf("endpoints (list by default):\n%s", out)
	}

	out = mustRun(t, s, "send", "ops", "deploy **done**", "--as", "alice")
	if !regexp.MustCompile(`^sent msg_\w+ to ops\n$`).MatchString(out) {
		t.Fatalf("send: %q", out)
	}
	var msg struct {
		ID, Text, HTML string
		Sender         struct{ ID string }
	}
	mustJSON(t, mustRun(t, s, "send", "ops", "second", "--as", "alice", "--json"), &msg)
	if msg.Text != "second" || msg.Sender.ID != "alice" || msg.HTML == "" {
		t.Fatalf("send --json: %+v", msg)
	}
	if code, _, errs := run(t, s, "send", "ops", "x", "--as", "nobody"); code != 1 || !strings.Contains(errs, "not_found") {
		t.Fatalf("send as an unknown user: %d %q", code, errs)
	}
	apptest.Eventually(t, 10*time.Second, "two verified deliveries", func() bool { return rc.count("") == 2 })

	var dl struct {
		Items []struct {
			ID      string `json:"id"`
			EventID string `json:"event_id"`
		} `json:"items"`
	}
	apptest.Eventually(t, 10*time.Second, "both deliveries succeeded", func() bool {
		mustJSON(t, mustRun(t, s, "endpoints", "deliveries", epID, "--json", "--status", "succeeded"), &dl)
		return len(dl.Items) == 2
	})
	text := mustRun(t, s, "endpoints", "deliveries", epID)
	if !regexp.MustCompile(`(?m)^` + dl.Items[0].ID + `\s+` + dl.Items[0].EventID + `\s+group_channel:message_send\s+succeeded\s+1\s+-\s`).MatchString(text) {
		t.Fatalf("endpoints deliveries:\n%s", text)
	}
	detail := mustRun(t, s, "endpoints", "delivery", dl.Items[0].ID)
	if !strings.Contains(detail, "succeeded after 1 attempts") || !regexp.MustCompile(`(?m)^\S+ \S+\s+200\s+\d+ms`).MatchString(detail) {
		t.Fatalf("endpoints delivery:\n%s", detail)
	}

	// retry: the same event id arrives again.
	if out := mustRun(t, s, "endpoints", "retry", dl.Items[0].ID); !strings.Contains(out, "will be attempted again now") {
		t.Fatalf("endpoints retry: %q", out)
	}
	apptest.Eventually(t, 10*time.Second, "the retried delivery", func() bool { return rc.count(dl.Items[0].EventID) == 2 })

	// replay: both events arrive once more, same ids.
	out = mustRun(t, s, "endpoints", "replay", epID, "--since", "1h")
	if !strings.Contains(out, "replaying 2 events since") {
		t.Fatalf("endpoints replay: %q", out)
	}
	apptest.Eventually(t, 10*time.Second, "the replayed deliveries", func() bool {
		return rc.count(dl.Items[0].EventID) == 3 && rc.count(dl.Items[1].EventID) == 2
	})
	var rr struct{ Deliveries int }
	mustJSON(t, mustRun(t, s, "endpoints", "replay", epID, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--json"), &rr)
	if rr.Deliveries != 0 {
		t.Fatalf("replay from the future: %+v", rr)
	}
	if code, _, errs := run(t, s, "endpoints", "replay", epID, "--since", "yesterday"); code != 1 || !strings.Contains(errs, "RFC 3339") {
		t.Fatalf("bad --since: %d %q", code, errs)
	}
}

// TestTail follows a room through a proxy whose connections the test cuts: tail reconnects
// with Last-Event-ID and prints every message exactly once, in order.
func TestTail(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice"})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "ops", "name": "Ops", "member_ids": []string{"alice"}})
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"tail", "ops", "--since", "0", "--server", proxy.URL, "--token", apptest.AdminToken}, &out, &errb)
	}()
	send := func(text string) {
		s.Must(http.StatusCreated, "POST", "/api/v1/rooms/ops/messages", map[string]any{"sender_id": "alice", "text": text})
	}
	send("first\nsecond line")
	apptest.Eventually(t, 10*time.Second, "the history and the first message", func() bool {
		return strings.Contains(out.String(), "Alice: first\n    second line\n")
	})
	if !regexp.MustCompile(`^#1 \S+ group_channel:create\n#2 \S+ alice joined\n#3 \S+ Alice: first`).MatchString(out.String()) {
		t.Fatalf("tail output:\n%s", out.String())
	}

	proxy.CloseClientConnections()
	send("while disconnected")
	apptest.Eventually(t, 10*time.Second, "the message sent while disconnected", func() bool {
		return strings.Contains(out.String(), "Alice: while disconnected\n")
	})
	send("after reconnecting")
	apptest.Eventually(t, 10*time.Second, "the message after reconnecting", func() bool {
		return strings.Contains(out.String(), "Alice: after reconnecting\n")
	})
	if !strings.Contains(errb.String(), "reconnecting in") || !strings.Contains(errb.String(), "resume after event 3") {
		t.Fatalf("tail said nothing about the reconnection: %q", errb.String())
	}
	seqs := regexp.MustCompile(`(?m)^#(\d+) `).FindAllStringSubmatch(out.String(), -1)
	for i, m := range seqs {
		if m[1] != []string{"1", "2", "3", "4", "5"}[i] {
			t.Fatalf("events out of order or repeated:\n%s", out.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("tail exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "resume with --since 5") {
		t.Fatalf("tail did not say where to resume: %q", errb.String())
	}

	// --json: one event object per line, resumed from --since.
	ctx, cancel = context.WithCancel(context.Background())
	var jout syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"tail", "ops", "--since", "4", "--json", "--server", s.URL, "--token", apptest.AdminToken}, &jout, io.Discard)
	}()
	apptest.Eventually(t, 10*time.Second, "the JSON event", func() bool { return strings.Count(jout.String(), "\n") == 1 })
	cancel()
	<-done
	var ev struct {
		Type    string `json:"type"`
		RoomSeq int64  `json:"room_seq"`
		Payload struct {
			Message struct{ Text string }
		}
	}
	mustJSON(t, jout.String(), &ev)
	if ev.RoomSeq != 5 || ev.Type != "group_channel:message_send" || ev.Payload.Message.Text != "after reconnecting" {
		t.Fatalf("tail --json: %+v", ev)
	}

	// Refusals end tail at once instead of reconnecting forever.
	if code, _, errs := run(t, s, "tail", "nope"); code != 1 || !strings.Contains(errs, "not_found (404)") {
		t.Fatalf("tail of an unknown room: %d %q", code, errs)
	}
	if code, _, errs := run(t, nil, "tail", "ops", "--server", s.URL, "--token", "wrong"); code != 1 || !strings.Contains(errs, "unauthenticated (401)") {
		t.Fatalf("tail with a wrong token: %d %q", code, errs)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	_, port, _ := strings.Cut(s.Addr(), ":")
	for _, addr := range []string{s.Addr(), ":" + port, "0.0.0.0:" + port} {
		if out := mustRun(t, nil, "healthcheck", "--addr", addr); out != "ready: "+s.URL+"/readyz\n" {
			t.Fatalf("healthcheck --addr %s: %q", addr, out)
		}
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if code, _, errs := run(t, nil, "healthcheck", "--url", down.URL+"/readyz"); code != 1 || !strings.Contains(errs, "answered 503") {
		t.Fatalf("healthcheck of an unready server: %d %q", code, errs)
	}
}

// settings shows the alerts room, sets it, refuses an unknown room, and turns alerts off.
func TestSettingsCommand(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	if out := mustRun(t, s, "settings"); out != "alerts room: (none: failure alerts are off)\n" {
		t.Fatalf("settings: %q", out)
	}
	mustRun(t, s, "rooms", "create", "ops")
	if out := mustRun(t, s, "settings", "--alerts-room", "ops"); out != "alerts room: ops\n" {
		t.Fatalf("settings --alerts-room ops: %q", out)
	}
	var v struct {
		AlertsRoomID string `json:"alerts_room_id"`
	}
	mustJSON(t, mustRun(t, s, "settings", "--json"), &v)
	if v.AlertsRoomID != "ops" {
		t.Fatalf("settings --json: %+v", v)
	}
	if code, _, errs := run(t, s, "settings", "--alerts-room", "nope"); code != 1 || !strings.Contains(errs, "(400)") {
		t.Fatalf("unknown room: %d %q", code, errs)
	}
	if out := mustRun(t, s, "settings", "--alerts-room", ""); !strings.Contains(out, "alerts are off") {
		t.Fatalf("settings --alerts-room '': %q", out)
	}
}
