package relay

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/render"
)

var rnd = render.New()

func toHTML(f render.Format, text string) string { return rnd.Render(f, text).HTML }

func TestConvertFromEachMarkup(t *testing.T) {
	cases := []struct {
		name   string
		from   render.Format
		text   string
		to     Markup
		expect string
	}{
		{"md to slack", render.Markdown, "deploy **done** _now_ ~~old~~ `x<y` see [ci](https://ci.example.com/1?a=1&b=2) @alice @All :rocket:", MarkupSlack,
			"deploy *done* _now_ ~old~ `x&lt;y` see <https://ci.example.com/1?a=1&b=2|ci> <@alice> <!channel> 🚀"},
		{"md to gchat", render.Markdown, "deploy **done** see [ci](https://ci.example.com/1) @alice @all", MarkupGChat,
			"deploy *done* see <https://ci.example.com/1|ci> <users/alice> <users/all>"},
		{"md to md", render.Markdown, "deploy **done** see [ci](https://ci.example.com/1) @alice @present", MarkupMarkdown,
			"deploy **done** see [ci](https://ci.example.com/1) @alice @here"},
		{"slack to md", render.Slack, "build *failed* <https://ci.example.com/2|log> <!here> <@bob> a &lt; b", MarkupMarkdown,
			"build **failed** [log](https://ci.example.com/2) @here @bob a < b"},
		{"slack to gchat", render.Slack, "build *failed* <https://ci.example.com/2|log> <!channel>", MarkupGChat,
			"build *failed* <https://ci.example.com/2|log> <users/all>"},
		{"gchat to slack", render.GChat, "<users/all> *Prod down*: see <https://status.example.com|status page> & more", MarkupSlack,
			"<!channel> *Prod down*: see <https://status.example.com|status page> &amp; more"},
		{"gchat to md", render.GChat, "*bold* _it_ ~s~ <users/carol>", MarkupMarkdown, "**bold** _it_ ~~s~~ @carol"},
		{"bare link", render.Markdown, "see https://example.com/x", MarkupSlack, "see <https://example.com/x>"},
		{"bare link md", render.Markdown, "see https://example.com/x", MarkupMarkdown, "see https://example.com/x"},
		{"plain", render.Markdown, "**a** [b](https://b.example) `c`", MarkupPlain, "a b (https://b.example) c"},
		{"lists", render.Markdown, "items:\n\n- one\n- two **2**\n\n1. a\n2. b", MarkupSlack, "items:\n\n• one\n• two *2*\n\n1. a\n2. b"},
		{"code block", render.Markdown, "```\nif a < b {\n}\n```", MarkupSlack, "```\nif a &lt; b {\n}\n```"},
		{"quote", render.Markdown, "> quoted *x*\n\nafter", MarkupMarkdown, "> quoted _x_\n\nafter"},
		{"heading", render.Markdown, "# Title\n\ntext", MarkupGChat, "*Title*\n\ntext"},
		{"table", render.Markdown, "| h | s |\n|---|---|\n| web1 | ok |", MarkupMarkdown, "| h | s |\n| --- | --- |\n| web1 | ok |"},
		{"table slack", render.Markdown, "| h | s |\n|---|---|\n| web1 | ok |", MarkupSlack, "h | s\nweb1 | ok"},
		{"lines", render.Markdown, "one\ntwo", MarkupSlack, "one\ntwo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := toHTML(c.from, c.text)
			if got := Convert(h, c.to); got != c.expect {
				t.Errorf("Convert(%q) to %s\n got %q\nwant %q", h, c.to, got, c.expect)
			}
		})
	}
}

func messageEvent(t *testing.T, typ string, m chat.Message, root *chat.ThreadRoot) *chat.Event {
	t.Helper()
	if m.HTML == "" {
		m.HTML = toHTML(render.Format(m.Format), m.Text)
	}
	p, err := json.Marshal(chat.MessagePayload{Room: chat.RoomRef{ID: "ops", Name: "Ops"}, Message: m, ThreadRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	return &chat.Event{ID: "evt_1", Type: typ, RoomID: "ops", CreatedAt: time.Now(), Payload: p}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

func TestBuildDefaultBodies(t *testing.T) {
	root := chat.Message{ID: "msg_1", ThreadID: "msg_1", Sender: chat.Sender{Type: chat.SenderUser, ID: "alice", Name: "Alice"},
		Text: "deploy **done** @bob <see> [log](https://ci.example.com/1)", Format: chat.FormatMarkdown}
	reply := chat.Message{ID: "msg_2", ThreadID: "msg_1", Sender: chat.Sender{Type: chat.SenderWebhook, ID: "wh_1", Name: "CI_bot"},
		Text: "thanks", Format: chat.FormatMarkdown, RelayHops: 1}
	rootRef := &chat.ThreadRoot{ID: "msg_1", SenderName: "Alice", Excerpt: "deploy **done** @bob"}

	t.Run("slack", func(t *testing.T) {
		r, err := Build(Target{Format: chat.TargetSlack, URL: "https://hooks.slack.com/services/T1/B1/x"}, messageEvent(t, chat.EventMessageSend, root, nil))
		if err != nil {
			t.Fatal(err)
		}
		b := decode(t, r.Body)
		if want := "*Alice*: deploy *done* <@bob> &lt;see&gt; <https://ci.example.com/1|log>"; b["text"] != want {
			t.Errorf("text %q, want %q", b["text"], want)
		}
		if r.URL != "https://hooks.slack.com/services/T1/B1/x" || r.Header.Get(HopsHeader) != "1" {
			t.Errorf("url %q hops %q", r.URL, r.Header.Get(HopsHeader))
		}
		if strings.Contains(string(r.Body), `\u003c`) {
			t.Errorf("body HTML-escaped: %s", r.Body)
		}
	})
	t.Run("slack reply", func(t *testing.T) {
		r, err := Build(Target{Format: chat.TargetSlack, URL: "https://x.example/s"}, messageEvent(t, chat.EventMessageSend, reply, rootRef))
		if err != nil {
			t.Fatal(err)
		}
		b := decode(t, r.Body)
		if want := "> ↪ in reply to *Alice*: “deploy **done** @bob”\n*CI_bot*: thanks"; b["text"] != want {
			t.Errorf("text %q, want %q", b["text"], want)
		}
		if r.Header.Get(HopsHeader) != "2" {
			t.Errorf("hops %q, want 2 (one more than the message crossed)", r.Header.Get(HopsHeader))
		}
	})
	t.Run("mattermost edited", func(t *testing.T) {
		r, err := Build(Target{Format: chat.TargetMattermost, URL: "https://mm.example/hooks/abc"}, messageEvent(t, chat.EventMessageUpdate, root, nil))
		if err != nil {
			t.Fatal(err)
		}
		if want := "**Alice** (edited): deploy **done** @bob <see> [log](https://ci.example.com/1)"; decode(t, r.Body)["text"] != want {
			t.Errorf("text %q, want %q", decode(t, r.Body)["text"], want)
		}
	})
	t.Run("mattermost name escaped", func(t *testing.T) {
		r, err := Build(Target{Format: chat.TargetMattermost, URL: "https://mm.example/hooks/abc"}, messageEvent(t, chat.EventMessageSend, reply, nil))
		if err != nil {
			t.Fatal(err)
		}
		if want := `**CI\_bot**: thanks`; decode(t, r.Body)["text"] != want {
			t.Errorf("text %q, want %q", decode(t, r.Body)["text"], want)
		}
	})
	t.Run("chime", func(t *testing.T) {
		long := root
		long.Text = strings.Repeat("é", 3000)
		r, err := Build(Target{Format: chat.TargetChime, URL: "https://hooks.chime.aws/incomingwebhooks/x?token=y"}, messageEvent(t, chat.EventMessageSend, long, nil))
		if err != nil {
			t.Fatal(err)
		}
		b := decode(t, r.Body)
		c, _ := b["Content"].(string)
		if len(b) != 1 || len(c) > chimeMaxBytes || !strings.HasPrefix(c, "**Alice**: éé") || !strings.HasSuffix(c, "…") {
			t.Errorf("chime body %d bytes, keys %d, starts %q", len(c), len(b), c[:20])
		}
	})
	t.Run("google chat thread", func(t *testing.T) {
		base := "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t%3D"
		for _, c := range []struct {
			m    chat.Message
			root *chat.ThreadRoot
		}{{root, nil}, {reply, rootRef}} {
			r, err := Build(Target{Format: chat.TargetGoogleChat, URL: base}, messageEvent(t, chat.EventMessageSend, c.m, c.root))
			if err != nil {
				t.Fatal(err)
			}
			b := decode(t, r.Body)
			th, _ := b["thread"].(map[string]any)
			if th["threadKey"] != "msg_1" {
				t.Errorf("%s: thread %v, want threadKey msg_1", c.m.ID, b["thread"])
			}
			if strings.Contains(b["text"].(string), "in reply to") {
				t.Errorf("google chat reply names its root although it is threaded: %q", b["text"])
			}
			u, _ := url.Parse(r.URL)
			q := u.Query()
			if q.Get("messageReplyOption") != ReplyOption || q.Get("token") != "t=" || q.Get("key") != "k" || q.Get("requestId") != "evt_1" {
				t.Errorf("url %s", r.URL)
			}
		}
	})
	t.Run("not a message", func(t *testing.T) {
		ev, _ := SampleEvent(chat.EventRoomJoin)
		if _, err := Build(Target{Format: chat.TargetSlack}, &ev); err != ErrNotRelayed {
			t.Errorf("join without template: %v, want ErrNotRelayed", err)
		}
		if _, err := Build(Target{Format: chat.FormatStandard}, messageEvent(t, chat.EventMessageSend, root, nil)); err == nil {
			t.Error("standard format built as a chat target")
		}
	})
}

func TestAccepted(t *testing.T) {
	cases := []struct {
		format string
		status int
		body   string
		want   bool
	}{
		{chat.TargetSlack, 200, "ok", true},
		{chat.TargetSlack, 200, "ok\n", true},
		{chat.TargetSlack, 200, "invalid_payload", false},
		{chat.TargetSlack, 201, "ok", false},
		{chat.TargetSlack, 429, "rate_limited", false},
		{chat.TargetGoogleChat, 200, `{"name":"spaces/A/messages/B.B","sender":{}}`, true},
		{chat.TargetGoogleChat, 200, `{"sender":{"name":"users/1"},"name":"spaces/A/messages/B.B","text":"cut sh`, true},
		{chat.TargetGoogleChat, 200, `{"sender":{"name":"users/1"}}`, false},
		{chat.TargetGoogleChat, 200, `{"name":""}`, false},
		{chat.TargetGoogleChat, 200, `ok`, false},
		{chat.TargetChime, 200, `{"MessageId":"m","RoomId":"r"}`, true},
		{chat.TargetChime, 200, `{}`, false},
		{chat.TargetChime, 403, `{"MessageId":"m"}`, false},
		{chat.TargetMattermost, 200, "ok", true},
		{chat.TargetMattermost, 200, "", true},
		{chat.TargetMattermost, 400, "", false},
	}
	for _, c := range cases {
		if got := Accepted(c.format, c.status, c.body); got != c.want {
			t.Errorf("Accepted(%s, %d, %q) = %v, want %v", c.format, c.status, c.body, got, c.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	tmpl := `{"cardsV2":[{"cardId":"m","card":{"header":{"title":{{json .Sender}}},"sections":[{"widgets":[{"textParagraph":{"text":{{json (markup "gchat")}}}}]}]}}],"thread":{"threadKey":{{json .ThreadKey}}},"room":{{json (default "none" .Room.Name)}},"t":{{json (truncate 4 .Type)}}}`
	root := chat.Message{ID: "msg_1", ThreadID: "msg_1", Sender: chat.Sender{Name: "Alice \"A\""}, Text: "hi **there**", Format: chat.FormatMarkdown}
	r, err := Build(Target{Format: chat.TargetGoogleChat, URL: "https://g.example/v1/spaces/A/messages?key=k&token=t", Template: tmpl}, messageEvent(t, chat.EventMessageSend, root, nil))
	if err != nil {
		t.Fatal(err)
	}
	b := decode(t, r.Body)
	card := b["cardsV2"].([]any)[0].(map[string]any)["card"].(map[string]any)
	if card["header"].(map[string]any)["title"] != `Alice "A"` {
		t.Errorf("title %v", card["header"])
	}
	if got := card["sections"].([]any)[0].(map[string]any)["widgets"].([]any)[0].(map[string]any)["textParagraph"].(map[string]any)["text"]; got != "hi *there*" {
		t.Errorf("text %v", got)
	}
	if b["room"] != "Ops" || b["t"] != "gro…" {
		t.Errorf("room %v t %v", b["room"], b["t"])
	}

	// Any event type renders with a template; Payload holds its data.
	join := `{"text":{{json (printf "%s joined %s" (index (index .Payload.users 0) "name") .Room.Name)}}}`
	ev, _ := SampleEvent(chat.EventRoomJoin)
	r, err = Build(Target{Format: chat.TargetSlack, Template: join}, &ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, r.Body)["text"]; got != "Alice joined Ops" {
		t.Errorf("join text %v", got)
	}

	for _, bad := range []struct{ src, want string }{
		{`{"text": {{json .Nope}}}`, "can't evaluate field Nope"},
		{`{"text": {{.Sender}`, "bad character"},
		{`text: {{.Sender}}`, "not a JSON object"},
		{`{"a":{{markup "html"}}}`, "unknown markup"},
		{`{{range $i := .Text}}{{end}}{"a":1}`, "range can't iterate"},
	} {
		err := Check(chat.TargetSlack, bad.src, []string{chat.EventMessageSend})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Check(%q) = %v, want an error with %q", bad.src, err, bad.want)
		}
	}
	// Checked against a sample of every subscribed type: a template that only works for
	// messages fails for "*".
	msgOnly := `{"text":{{json (printf "%s: %s" .Sender .Message.Text)}}}`
	if err := Check(chat.TargetSlack, msgOnly, []string{chat.EventMessageSend, chat.EventMessageUpdate}); err != nil {
		t.Errorf("message template for message types: %v", err)
	}
	if err := Check(chat.TargetSlack, msgOnly, []string{"*"}); err == nil || !strings.Contains(err.Error(), "sample") {
		t.Errorf("message template for every type: %v, want an error naming the sample", err)
	}
	// A runaway template stops at the size bound.
	big := `{"text":"` + `{{range .Message.Mentions}}{{end}}` + strings.Repeat(`{{printf "%0100000d" 1}}`, 3) + `"}`
	if err := Check(chat.TargetSlack, big, []string{chat.EventMessageSend}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized result: %v", err)
	}
}

func TestSampleEventsCoverEveryType(t *testing.T) {
	for _, typ := range chat.EventTypes {
		ev, ok := SampleEvent(typ)
		if !ok || ev.Type != typ || !json.Valid(ev.Payload) {
			t.Errorf("no sample for %s", typ)
		}
	}
	if _, ok := SampleEvent("nope"); ok {
		t.Error("sample for an unknown type")
	}
}
