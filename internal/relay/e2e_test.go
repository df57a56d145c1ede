package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/relay"
)

const wait = 30 * time.Second

var targets = []string{chat.TargetSlack, chat.TargetMattermost, chat.TargetGoogleChat, chat.TargetChime}

func mkUsers(t *testing.T, s *apptest.Server) {
	t.Helper()
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "alice", "name": "Alice", "alias": "al"})
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "bob", "name": "Bob"})
}

func mkRoom(t *testing.T, s *apptest.Server, id string) {
	t.Helper()
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": id, "name": "Room " + id, "member_ids": []string{"alice", "bob"}})
}

func mkHook(t *testing.T, s *apptest.Server, room, name string) api.WebhookURLs {
	t.Helper()
	var h api.Webhook
	s.Must(201, "POST", "/api/v1/rooms/"+room+"/webhooks", map[string]any{"name": name}).JSON(t, &h)
	return *h.URLs
}

func urlFor(u api.WebhookURLs, format string) string {
	switch format {
	case chat.TargetSlack:
		return u.Slack
	case chat.TargetMattermost:
		return u.Mattermost
	case chat.TargetGoogleChat:
		return u.GoogleChat
	}
	return u.Chime
}

func mkEndpoint(t *testing.T, s *apptest.Server, body map[string]any) chat.EndpointView {
	t.Helper()
	var v chat.EndpointView
	s.Must(201, "POST", "/api/v1/endpoints", body).JSON(t, &v)
	return v
}

func messages(t *testing.T, s *apptest.Server, room string) []chat.Message {
	t.Helper()
	var l api.List[chat.Message]
	s.Must(200, "GET", "/api/v1/rooms/"+room+"/messages?limit=200", nil).JSON(t, &l)
	return l.Items
}

func postRaw(t *testing.T, u, contentType, body string) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, b)
	}
}

func post(t *testing.T, s *apptest.Server, room, sender, text, thread string) chat.Message {
	t.Helper()
	body := map[string]any{"sender_id": sender, "text": text}
	if thread != "" {
		body["thread_id"] = thread
	}
	var m chat.Message
	s.Must(201, "POST", "/api/v1/rooms/"+room+"/messages", body).JSON(t, &m)
	return m
}

// sourcePosts posts into room through each incoming dialect of one webhook named "CI",
// then a thread through the REST API: a root by Alice and a reply by Bob. It returns the
// number of messages posted.
func sourcePosts(t *testing.T, s *apptest.Server, room string, hook api.WebhookURLs) (root chat.Message, n int) {
	t.Helper()
	postRaw(t, hook.Chime, "application/json", `{"Content":"chime: deploy **done** @bob see https://ci.example.com/1"}`)
	postRaw(t, hook.GoogleChat, "application/json", `{"text":"gchat: *prod* down <users/all> see <https://status.example.com|status>"}`)
	postRaw(t, hook.Slack, "application/json", `{"text":"slack: build _failed_ <@bob> <https://ci.example.com/2|log>"}`)
	postRaw(t, hook.Mattermost, "", `{"text":"mattermost: backup ~~slow~~ finished @al"}`)
	root = post(t, s, room, "alice", "incident 7: api latency", "")
	post(t, s, room, "bob", "looking into it", root.ID)
	return root, 6
}

func hasMention(m chat.Message, typ, user string) bool {
	return slices.ContainsFunc(m.Mentions, func(x chat.Mention) bool { return x.Type == typ && x.UserID == user })
}

func byPrefix(t *testing.T, ms []chat.Message, sub string) chat.Message {
	t.Helper()
	for _, m := range ms {
		if strings.Contains(m.Text, sub) {
			return m
		}
	}
	t.Fatalf("no message containing %q in %d messages", sub, len(ms))
	return chat.Message{}
}

// Messages posted through every incoming dialect of one chathooks server arrive, relayed
// through each chat format, in rooms of another chathooks server (through that server's
// webhook URL of the same dialect): sender name, text, links and mentions arrive, a Google
// Chat thread stays one thread, and replies elsewhere say what they answer.
func TestRelayToAnotherChathooks(t *testing.T) {
	t.Parallel()
	src, dst := apptest.Start(t, apptest.Options{}), apptest.Start(t, apptest.Options{})
	mkUsers(t, src)
	mkUsers(t, dst)
	mkRoom(t, src, "ops")
	mkRoom(t, src, "other")
	srcHook := mkHook(t, src, "ops", "CI")
	for _, f := range targets {
		mkRoom(t, dst, "in-"+f)
		u := urlFor(mkHook(t, dst, "in-"+f, "Relay from ops"), f)
		ep := mkEndpoint(t, src, map[string]any{
			"url": u, "format": f, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"ops"},
			// This test is about content; pacing has its own test.
			"rate_limit_per_second": 100,
		})
		if ep.Secret != "" || strings.Contains(ep.URL, "token=") && !strings.Contains(ep.URL, "token=****") {
			t.Fatalf("%s endpoint shows its secret: %+v", f, ep)
		}
	}
	_, n := sourcePosts(t, src, "ops", srcHook)
	post(t, src, "other", "alice", "not in scope", "")

	for _, f := range targets {
		room := "in-" + f
		var ms []chat.Message
		apptest.Eventually(t, wait, n4(n, room), func() bool { ms = messages(t, dst, room); return len(ms) >= n })
		if len(ms) != n {
			t.Fatalf("%s: %d messages, want %d", room, len(ms), n)
		}
		for _, m := range ms {
			if m.RelayHops != 1 {
				t.Errorf("%s: message %q has relay_hops %d, want 1", room, m.Text, m.RelayHops)
			}
			if strings.Contains(m.Text, "not in scope") {
				t.Errorf("%s: a message of a room outside room_ids was relayed", room)
			}
		}
		// Sender names and text.
		chime := byPrefix(t, ms, "chime:")
		if !strings.Contains(chime.Text, "CI") || !strings.Contains(chime.HTML, "<strong>done</strong>") ||
			!strings.Contains(chime.HTML, `href="https://ci.example.com/1"`) || !hasMention(chime, "user", "bob") {
			t.Errorf("%s: chime post arrived as %q / %s %+v", room, chime.Text, chime.HTML, chime.Mentions)
		}
		gchat := byPrefix(t, ms, "gchat:")
		if !strings.Contains(gchat.HTML, "<strong>prod</strong>") || !strings.Contains(gchat.HTML, `href="https://status.example.com"`) ||
			!strings.Contains(gchat.HTML, ">status</a>") || !hasMention(gchat, "all", "") {
			t.Errorf("%s: google chat post arrived as %q / %s %+v", room, gchat.Text, gchat.HTML, gchat.Mentions)
		}
		slack := byPrefix(t, ms, "slack:")
		if !strings.Contains(slack.HTML, "<em>failed</em>") || !strings.Contains(slack.HTML, `href="https://ci.example.com/2"`) || !hasMention(slack, "user", "bob") {
			t.Errorf("%s: slack post arrived as %q / %s %+v", room, slack.Text, slack.HTML, slack.Mentions)
		}
		mm := byPrefix(t, ms, "mattermost:")
		if !strings.Contains(mm.HTML, "<del>slow</del>") || !hasMention(mm, "user", "alice") {
			t.Errorf("%s: mattermost post arrived as %q / %s %+v", room, mm.Text, mm.HTML, mm.Mentions)
		}
		for _, m := range []chat.Message{chime, gchat, slack, mm} {
			if !strings.Contains(m.HTML, "<strong>CI</strong>") {
				t.Errorf("%s: %q does not name its sender in bold", room, m.Text)
			}
		}
		// The thread.
		r, reply := byPrefix(t, ms, "incident 7"), byPrefix(t, ms, "looking into it")
		if !strings.Contains(r.HTML, "<strong>Alice</strong>") || !strings.Contains(reply.HTML, "<strong>Bob</strong>") {
			t.Errorf("%s: thread senders: %q, %q", room, r.Text, reply.Text)
		}
		if f == chat.TargetGoogleChat {
			if reply.ThreadID != r.ID || r.ThreadID != r.ID {
				t.Errorf("google chat: the reply is in thread %q, the root is %q", reply.ThreadID, r.ID)
			}
			if strings.Contains(reply.Text, "in reply to") {
				t.Errorf("google chat: a threaded reply also quotes its root: %q", reply.Text)
			}
		} else if !strings.Contains(reply.Text, "in reply to") || !strings.Contains(reply.Text, "Alice") || !strings.Contains(reply.Text, "incident 7") {
			t.Errorf("%s: the reply does not say what it answers: %q", room, reply.Text)
		}
	}
}

func n4(n int, room string) string { return fmt.Sprintf("%d messages in %s", n, room) }

// hit is one request a fake chat tool received.
type hit struct {
	Refused bool // answered by fail
	At      time.Time
	URL     *url.URL
	Header  http.Header
	Body    map[string]any
}

// fakeTool answers as one chat tool does; fail, when set, answers instead for a request.
type fakeTool struct {
	srv    *httptest.Server
	format string
	mu     sync.Mutex
	hits   []hit
	fail   func(n int, w http.ResponseWriter) bool // guarded by mu
}

func newFakeTool(t *testing.T, format string) *fakeTool {
	ft := &fakeTool{format: format}
	ft.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		ft.mu.Lock()
		n := len(ft.hits)
		ft.hits = append(ft.hits, hit{At: time.Now(), URL: r.URL, Header: r.Header.Clone(), Body: m})
		fail := ft.fail
		ft.mu.Unlock()
		if fail != nil && fail(n, w) {
			ft.mu.Lock()
			ft.hits[n].Refused = true
			ft.mu.Unlock()
			return
		}
		switch format {
		case chat.TargetSlack, chat.TargetMattermost:
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "ok")
		case chat.TargetGoogleChat:
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"name":"spaces/S/messages/m%d.m%d","sender":{"displayName":"hook","type":"BOT"},"thread":{"name":"spaces/S/threads/t"}}`, n, n)
		case chat.TargetChime:
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"MessageId":"m%d","RoomId":"r"}`, n)
		}
	}))
	t.Cleanup(ft.srv.Close)
	return ft
}

func (ft *fakeTool) url() string {
	switch ft.format {
	case chat.TargetSlack:
		return ft.srv.URL + "/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX"
	case chat.TargetMattermost:
		return ft.srv.URL + "/hooks/xw7gq3kz9fbfdmo6d1y5rj4p7e"
	case chat.TargetGoogleChat:
		return ft.srv.URL + "/v1/spaces/AAAA/messages?key=AIzaKEY&token=SECRET%3D"
	}
	return ft.srv.URL + "/incomingwebhooks/0f2c6a8e-1b7d-4c1e-9a55-3f0e2d9b7c11?token=SECRETTOKEN"
}

func (ft *fakeTool) all() []hit {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return slices.Clone(ft.hits)
}

func text(h hit) string {
	if s, ok := h.Body["text"].(string); ok {
		return s
	}
	s, _ := h.Body["Content"].(string)
	return s
}

// The same posts, relayed to receivers answering as Slack, Mattermost, Google Chat and
// Chime do: each gets the target's payload shape and markup, the hop header, no
// signature; Google Chat gets the thread key and reply option.
func TestRelayToChatTools(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	mkUsers(t, s)
	mkRoom(t, s, "ops")
	hook := mkHook(t, s, "ops", "CI")
	tools := map[string]*fakeTool{}
	for _, f := range targets {
		tools[f] = newFakeTool(t, f)
		mkEndpoint(t, s, map[string]any{"url": tools[f].url(), "format": f, "event_types": []string{chat.EventMessageSend, chat.EventMessageUpdate},
			"rate_limit_per_second": 100})
	}
	root, n := sourcePosts(t, s, "ops", hook)
	s.Must(200, "PATCH", "/api/v1/rooms/ops/messages/"+root.ID, map[string]any{"text": "incident 7: api latency (resolved)"})
	n++
	want := map[string][]string{
		chat.TargetSlack: {
			"*CI*: chime: deploy *done* <@bob> see <https://ci.example.com/1>",
			"*CI*: gchat: *prod* down <!channel> see <https://status.example.com|status>",
			"*CI*: slack: build _failed_ <@bob> <https://ci.example.com/2|log>",
			"*CI*: mattermost: backup ~slow~ finished <@al>",
			"*Alice*: incident 7: api latency",
			"> ↪ in reply to *Alice*: “incident 7: api latency”\n*Bob*: looking into it",
			"*Alice* (edited): incident 7: api latency (resolved)",
		},
		chat.TargetMattermost: {
			"**CI**: chime: deploy **done** @bob see https://ci.example.com/1",
			"**CI**: gchat: **prod** down @all see [status](https://status.example.com)",
			"**CI**: slack: build _failed_ @bob [log](https://ci.example.com/2)",
			"**CI**: mattermost: backup ~~slow~~ finished @al",
			"**Alice**: incident 7: api latency",
			"> ↪ in reply to **Alice**: “incident 7: api latency”\n**Bob**: looking into it",
			"**Alice** (edited): incident 7: api latency (resolved)",
		},
		chat.TargetGoogleChat: {
			"*CI*: chime: deploy *done* <users/bob> see <https://ci.example.com/1>",
			"*CI*: gchat: *prod* down <users/all> see <https://status.example.com|status>",
			"*CI*: slack: build _failed_ <users/bob> <https://ci.example.com/2|log>",
			"*CI*: mattermost: backup ~slow~ finished <users/al>",
			"*Alice*: incident 7: api latency",
			"*Bob*: looking into it",
			"*Alice* (edited): incident 7: api latency (resolved)",
		},
	}
	want[chat.TargetChime] = want[chat.TargetMattermost]
	for _, f := range targets {
		ft := tools[f]
		apptest.Eventually(t, wait, f+" receives every message", func() bool { return len(ft.all()) >= n })
		hits := ft.all()
		if len(hits) != n {
			t.Fatalf("%s: %d requests, want %d", f, len(hits), n)
		}
		var got []string
		for _, h := range hits {
			got = append(got, text(h))
			if h.Header.Get(relay.HopsHeader) != "1" || h.Header.Get("Webhook-Signature") != "" || h.Header.Get("X-Sendbird-Signature") != "" {
				t.Errorf("%s: headers %v", f, h.Header)
			}
			keys := 0
			for range h.Body {
				keys++
			}
			if f == chat.TargetChime && keys != 1 {
				t.Errorf("chime: body has %d keys, want Content only: %v", keys, h.Body)
			}
		}
		// One request at a time: the room's order is kept.
		if !slices.Equal(got, want[f]) {
			t.Errorf("%s texts:\n got %q\nwant %q", f, got, want[f])
		}
	}
	// Google Chat: every message of the thread carries the root's id as thread key, with
	// the reply option that joins (or starts) that thread, and the event id as requestId.
	gh := tools[chat.TargetGoogleChat].all()
	for i, h := range gh {
		th, _ := h.Body["thread"].(map[string]any)
		q := h.URL.Query()
		if q.Get("messageReplyOption") != relay.ReplyOption || q.Get("token") != "SECRET=" || q.Get("requestId") == "" {
			t.Errorf("google chat request %d: query %v", i, q)
		}
		if i >= 4 && th["threadKey"] != root.ID {
			t.Errorf("google chat request %d: thread %v, want threadKey %s", i, th, root.ID)
		}
	}
}

// A target that refuses or throttles gets the message again later; an answer that is not
// the target's success answer (Slack's 200 without "ok", Google Chat's 200 without a
// message name) is a failure, recorded with the target's body.
func TestRelayJudgesAnswers(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	mkUsers(t, s)
	mkRoom(t, s, "ops")
	slack, gchat := newFakeTool(t, chat.TargetSlack), newFakeTool(t, chat.TargetGoogleChat)
	slack.fail = func(n int, w http.ResponseWriter) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "rate_limited")
			return true
		}
		return false
	}
	gchat.fail = func(n int, w http.ResponseWriter) bool {
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"error":"not a message"}`)
			return true
		}
		return false
	}
	se := mkEndpoint(t, s, map[string]any{"url": slack.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}})
	ge := mkEndpoint(t, s, map[string]any{"url": gchat.url(), "format": chat.TargetGoogleChat, "event_types": []string{chat.EventMessageSend},
		"retry": map[string]any{"max_interval_s": 1}})
	post(t, s, "ops", "alice", "hello", "")
	apptest.Eventually(t, wait, "slack retried after Retry-After", func() bool { return len(slack.all()) >= 2 })
	apptest.Eventually(t, wait, "google chat retried", func() bool { return len(gchat.all()) >= 2 })
	for _, ep := range []chat.EndpointView{se, ge} {
		var ds api.List[chat.Delivery]
		apptest.Eventually(t, wait, ep.Format+" delivery succeeds", func() bool {
			s.Must(200, "GET", "/api/v1/endpoints/"+ep.ID+"/deliveries", nil).JSON(t, &ds)
			return len(ds.Items) == 1 && ds.Items[0].Status == chat.DeliverySucceeded
		})
		var d chat.DeliveryDetail
		s.Must(200, "GET", "/api/v1/deliveries/"+ds.Items[0].ID, nil).JSON(t, &d)
		if len(d.Attempts) != 2 || d.Attempts[1].StatusCode != 200 {
			t.Fatalf("%s attempts: %+v", ep.Format, d.Attempts)
		}
		first := d.Attempts[0]
		switch ep.Format {
		case chat.TargetSlack:
			if first.StatusCode != 429 || first.ResponseExcerpt != "rate_limited" {
				t.Errorf("slack first attempt: %+v", first)
			}
			if gap := d.Attempts[1].At.Sub(first.At); gap < 900*time.Millisecond {
				t.Errorf("slack retried %v after a 429 with Retry-After: 1", gap)
			}
		case chat.TargetGoogleChat:
			if first.StatusCode != 200 || !strings.Contains(first.Error, "not the target's answer") {
				t.Errorf("google chat first attempt: %+v", first)
			}
		}
	}
	// Retrying with the same requestId lets Google Chat answer with the first message.
	g := gchat.all()
	if g[0].URL.Query().Get("requestId") != g[1].URL.Query().Get("requestId") {
		t.Errorf("google chat retries with another requestId: %v, %v", g[0].URL, g[1].URL)
	}
}

// Two rooms relaying to each other produce one copy of each message, never a loop; an
// endpoint allowing two hops relays the copy back once, and the next relay stops it.
func TestRelayLoopStops(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	mkUsers(t, s)
	mkRoom(t, s, "r1")
	mkRoom(t, s, "r2")
	h1, h2 := mkHook(t, s, "r1", "from r2"), mkHook(t, s, "r2", "from r1")
	e1 := mkEndpoint(t, s, map[string]any{"url": h2.Slack, "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"r1"}})
	e2 := mkEndpoint(t, s, map[string]any{"url": h1.Mattermost, "format": chat.TargetMattermost, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"r2"}})
	if e1.MaxHops != 1 || e2.MaxHops != 1 {
		t.Fatalf("default max_hops: %d %d", e1.MaxHops, e2.MaxHops)
	}
	deliveries := func(id string) []chat.Delivery {
		var ds api.List[chat.Delivery]
		s.Must(200, "GET", "/api/v1/endpoints/"+id+"/deliveries", nil).JSON(t, &ds)
		return ds.Items
	}
	post(t, s, "r1", "alice", "ping from r1", "")
	apptest.Eventually(t, wait, "the copy in r2", func() bool { return len(messages(t, s, "r2")) == 1 })
	// The copy's event was fanned out in the transaction that stored it: any relay of it
	// exists by now.
	if ds := deliveries(e2.ID); len(ds) != 0 {
		t.Fatalf("the relayed copy was relayed back: %+v", ds)
	}
	post(t, s, "r2", "bob", "pong from r2", "")
	apptest.Eventually(t, wait, "the copy in r1", func() bool { return len(messages(t, s, "r1")) == 2 })
	if ds := deliveries(e1.ID); len(ds) != 1 {
		t.Fatalf("r1's endpoint has %d deliveries, want 1 (its own message only)", len(ds))
	}
	r1, r2 := messages(t, s, "r1"), messages(t, s, "r2")
	if len(r1) != 2 || len(r2) != 2 || r1[1].RelayHops != 1 || r2[0].RelayHops != 1 {
		t.Fatalf("r1 %+v\nr2 %+v", r1, r2)
	}

	// max_hops 2 on r2's endpoint: a copy from r1 goes back once (hops 2); r1's endpoint
	// (max_hops 1) stops it there.
	s.Must(200, "PATCH", "/api/v1/endpoints/"+e2.ID, map[string]any{"max_hops": 2})
	post(t, s, "r1", "alice", "echo", "")
	apptest.Eventually(t, wait, "the echo back in r1", func() bool { return len(messages(t, s, "r1")) == 4 })
	r1 = messages(t, s, "r1")
	if last := r1[3]; last.RelayHops != 2 || !strings.Contains(last.Text, "echo") {
		t.Fatalf("echo: %+v", last)
	}
	if ds := deliveries(e1.ID); len(ds) != 2 {
		t.Fatalf("r1's endpoint has %d deliveries, want 2 (the echo at 2 hops is not relayed)", len(ds))
	}
	if n := len(messages(t, s, "r2")); n != 3 {
		t.Fatalf("r2 has %d messages, want 3", n)
	}
}

// Chat-format endpoints: the URL is sealed and shown redacted, there is no secret to
// rotate, defaults pace Chime and Google Chat, templates are checked when saved and
// previewed without sending.
func TestChatTargetEndpoints(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	mkUsers(t, s)
	mkRoom(t, s, "ops")
	gchat := newFakeTool(t, chat.TargetGoogleChat)
	ep := mkEndpoint(t, s, map[string]any{"url": gchat.url(), "format": chat.TargetGoogleChat, "event_types": []string{chat.EventMessageSend}})
	wantURL := gchat.srv.URL + "/v1/spaces/AAAA/messages?key=****&token=****"
	if ep.URL != wantURL || ep.Secret != "" || ep.RateLimit != 1 || ep.MaxInFlight != 1 || ep.MaxHops != 1 {
		t.Fatalf("created: %+v", ep)
	}
	got := s.Must(200, "GET", "/api/v1/endpoints/"+ep.ID, nil)
	if strings.Contains(string(got.Body), "SECRET") || strings.Contains(string(got.Body), "AIzaKEY") {
		t.Fatalf("GET shows the URL's secret: %s", got.Body)
	}
	slackEp := mkEndpoint(t, s, map[string]any{"url": "https://hooks.slack.com/services/T1/B1/SECRETSECRET", "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}})
	if slackEp.URL != "https://hooks.slack.com/services/T1/B1/****" || slackEp.RateLimit != 0 {
		t.Fatalf("slack endpoint: %+v", slackEp)
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+ep.ID+"/rotate-secret", nil); r.Status != 409 {
		t.Errorf("rotate a chat target's secret: %d %s", r.Status, r.Body)
	}
	r := s.Must(200, "PATCH", "/api/v1/endpoints/"+slackEp.ID, map[string]any{"url": "https://hooks.slack.com/services/T1/B2/NEWSECRET"})
	if v := r.Map(t); v["url"] != "https://hooks.slack.com/services/T1/B2/****" {
		t.Errorf("patched url shown as %v", v["url"])
	}

	bad := []map[string]any{
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventRoomJoin}},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{"*"}},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}, "secret": "x"},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"nope"}},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}, "max_hops": 4},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{"*"}, "template": `{"text":{{json .Message.Text}}}`},
		{"url": gchat.url(), "format": chat.TargetSlack, "event_types": []string{chat.EventMessageSend}, "template": `{"text": {{.Nope}}}`},
		{"url": gchat.url(), "format": chat.FormatStandard, "event_types": []string{chat.EventMessageSend}, "template": `{}`},
		{"url": "ftp://example.com/x", "format": chat.TargetChime, "event_types": []string{chat.EventMessageSend}},
	}
	for i, b := range bad {
		if r := s.Do("POST", "/api/v1/endpoints", b); r.Status != 400 && r.Status != 422 {
			t.Errorf("bad endpoint %d %v: %d %s", i, b, r.Status, r.Body)
		}
	}

	// A template for a card; any event type with a template.
	tmpl := `{"cardsV2":[{"cardId":"c","card":{"header":{"title":{{json (default .Type .Sender)}}},"sections":[{"widgets":[{"textParagraph":{"text":{{json (default (printf "%s in %s" .Type .Room.Name) .Text)}}}}]}]}}]` +
		`{{if .ThreadKey}},"thread":{"threadKey":{{json .ThreadKey}}}{{end}}}`
	card := mkEndpoint(t, s, map[string]any{"url": gchat.url(), "format": chat.TargetGoogleChat, "event_types": []string{"*"}, "template": tmpl, "rate_limit_per_second": 100})
	var pv chat.Preview
	s.Must(200, "POST", "/api/v1/endpoints/"+card.ID+"/preview", map[string]any{"event_type": chat.EventRoomJoin}).JSON(t, &pv)
	if !strings.Contains(string(pv.Body), `"text":"group_channel:join in Ops"`) || pv.Headers[relay.HopsHeader] != "1" || !strings.Contains(pv.URL, "token=****") {
		t.Errorf("preview of a sample join: %+v %s", pv, pv.Body)
	}
	m := post(t, s, "ops", "alice", "card **me**", "")
	apptest.Eventually(t, wait, "the card", func() bool {
		for _, h := range gchat.all() {
			if _, ok := h.Body["cardsV2"]; ok {
				return true
			}
		}
		return false
	})
	var evs api.List[chat.Delivery]
	s.Must(200, "GET", "/api/v1/endpoints/"+card.ID+"/deliveries", nil).JSON(t, &evs)
	if len(evs.Items) == 0 {
		t.Fatal("no delivery for the card endpoint")
	}
	s.Must(200, "POST", "/api/v1/endpoints/"+card.ID+"/preview", map[string]any{"event_id": evs.Items[len(evs.Items)-1].EventID}).JSON(t, &pv)
	if !strings.Contains(string(pv.Body), `"text":"card *me*"`) || !strings.Contains(string(pv.Body), `"threadKey":"`+m.ID+`"`) {
		t.Errorf("preview of the stored event: %s", pv.Body)
	}
	s.Must(200, "POST", "/api/v1/endpoints/"+ep.ID+"/preview", map[string]any{
		"event": map[string]any{"type": chat.EventMessageSend, "payload": map[string]any{"message": map[string]any{"id": "m1", "text": "given", "html": "<p>given <em>here</em></p>", "sender": map[string]any{"name": "Zed"}}}},
	}).JSON(t, &pv)
	if !strings.Contains(string(pv.Body), `"text":"*Zed*: given _here_"`) {
		t.Errorf("preview of a given event: %s", pv.Body)
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+ep.ID+"/preview", map[string]any{"event_type": chat.EventRoomJoin}); r.Status != 400 {
		t.Errorf("preview of a join without a template: %d %s", r.Status, r.Body)
	}
}

// Chime and Google Chat accept one message per second per room: their endpoints are paced
// to that by default instead of failing.
func TestRelayPacing(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	mkUsers(t, s)
	mkRoom(t, s, "ops")
	chime := newFakeTool(t, chat.TargetChime)
	mkEndpoint(t, s, map[string]any{"url": chime.url(), "format": chat.TargetChime, "event_types": []string{chat.EventMessageSend}})
	for i := range 3 {
		post(t, s, "ops", "alice", fmt.Sprintf("m%d", i), "")
	}
	apptest.Eventually(t, wait, "three messages", func() bool { return len(chime.all()) == 3 })
	h := chime.all()
	// A bucket of one message per second: the third leaves two seconds after the first.
	if gap := h[2].At.Sub(h[0].At); gap < 1800*time.Millisecond {
		t.Errorf("three messages to Chime within %v", gap)
	}
	for i, want := range []string{"m0", "m1", "m2"} {
		if !strings.HasSuffix(text(h[i]), want) {
			t.Errorf("message %d: %q", i, text(h[i]))
		}
	}
}
