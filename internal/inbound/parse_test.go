package inbound

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return -1
}

func TestParsers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		parse func() (string, error)
		want  string
		kind  Kind
	}{
		{"chime", func() (string, error) { return ParseChime([]byte(`{"Content":"hi","Other":1}`)) }, "hi", 0},
		{"chime null", func() (string, error) { return ParseChime([]byte(`{"Content":null}`)) }, "", KindInvalid},
		{"gchat text and card", func() (string, error) {
			m, err := ParseGoogleChat([]byte(`{"text":"t","cards":[{"header":{"title":"H"},"sections":[{"widgets":[{"keyValue":{"topLabel":"k","content":"v","onClick":{"openLink":{"url":"https://x.example"}}}},{"buttons":[{"textButton":{"text":"Go","onClick":{"openLink":{"url":"https://go.example"}}}}]}]}]}]}`), nil)
			return m.Text, err
		}, "t\n\n*H*\nk\n<https://x.example|v>\n<https://go.example|Go>", 0},
		{"gchat card html", func() (string, error) {
			m, err := ParseGoogleChat([]byte(`{"cardsV2":[{"card":{"sections":[{"widgets":[{"textParagraph":{"text":"<b>B</b><br><a href=\"https://l.example\">L</a> <font color=\"#f00\">red</font>"}}]}]}}]}`), nil)
			return m.Text, err
		}, "*B*\n<https://l.example|L> red", 0},
		{"gchat fallbackText only with empty cards", func() (string, error) {
			m, err := ParseGoogleChat([]byte(`{"cardsV2":[],"fallbackText":"fb"}`), nil)
			return m.Text, err
		}, "fb", 0},
		{"gchat trailing data", func() (string, error) {
			m, err := ParseGoogleChat([]byte(`{"text":"a"} {}`), nil)
			return m.Text, err
		}, "", KindInvalid},
		{"slack blocks win over text", func() (string, error) {
			m, err := ParseSlack("", []byte(`{"text":"fallback","blocks":[{"type":"header","text":{"type":"plain_text","text":"Head"}},{"type":"section","text":{"type":"mrkdwn","text":"body"},"fields":[{"type":"mrkdwn","text":"f1"}]}]}`))
			return m.Text, err
		}, "*Head*\nbody\nf1", 0},
		{"slack bad blocks", func() (string, error) {
			m, err := ParseSlack("", []byte(`{"text":"x","blocks":{"a":1}}`))
			return m.Text, err
		}, "", KindInvalid},
		{"slack attachment javascript link", func() (string, error) {
			m, err := ParseSlack("", []byte(`{"attachments":[{"title":"T","title_link":"javascript:alert(1)"}]}`))
			return m.Text, err
		}, "*T*", 0},
		{"mattermost control chars", func() (string, error) {
			m, err := ParseMattermost("", []byte("{\"text\":\"a\x01b\"}"))
			return m.Text, err
		}, "a\x01b", 0},
	}
	for _, c := range cases {
		got, err := c.parse()
		if c.kind != 0 {
			if kindOf(err) != c.kind {
				t.Errorf("%s: error %v, want kind %d", c.name, err, c.kind)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
}

func TestGoogleChatQuery(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("threadKey=legacy&messageReplyOption=REPLY_MESSAGE_OR_FAIL&requestId=r&alt=json&prettyPrint=false")
	m, err := ParseGoogleChat([]byte(`{"text":"x"}`), q)
	if err != nil || m.ThreadKey != "legacy" || m.ReplyOption != "REPLY_MESSAGE_OR_FAIL" || m.RequestID != "r" {
		t.Fatalf("%+v %v", m, err)
	}
	m, _ = ParseGoogleChat([]byte(`{"text":"x","thread":{"threadKey":"body"}}`), q)
	if m.ThreadKey != "body" {
		t.Fatalf("body key should win: %q", m.ThreadKey)
	}
	if _, _, ok := ParseThreadName("spaces/a/threads/b/c"); ok {
		t.Fatal("nested thread name accepted")
	}
	if s, th, ok := ParseThreadName("spaces/a/threads/b"); !ok || s != "a" || th != "b" {
		t.Fatal("thread name not split")
	}
}

func TestEscapeControlInStrings(t *testing.T) {
	t.Parallel()
	in := "{\"a\":\"x\ny\t\\\"z\r\"}\n"
	want := "{\"a\":\"x\\ny\\t\\\"z\\r\"}\n"
	if got := string(escapeControlInStrings([]byte(in))); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if !strings.Contains(truncateRunes(strings.Repeat("é", 10), 3), "ééé") || len(truncateBytes("éé", 3)) != 2 {
		t.Fatal("truncation")
	}
}
