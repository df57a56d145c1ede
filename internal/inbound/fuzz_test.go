package inbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/chat"
)

// checkParsed holds for every parser: an error is an *Error; success has text within the
// service's limit.
func checkParsed(t *testing.T, text string, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *inbound.Error", err)
		}
		return
	}
	if strings.TrimSpace(text) == "" {
		t.Fatalf("success with empty text")
	}
	if len(text) > chat.MaxTextBytes {
		t.Fatalf("text of %d bytes is over the service limit", len(text))
	}
}

func FuzzChime(f *testing.F) {
	for _, s := range []string{
		`{"Content":"Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present"}`,
		`{"Content":"/md | host | status |\n|---|---|\n| web1 | ok |"}`,
		`{"Content":""}`, `{"content":"x"}`, `{"Content":1}`, `[]`, `null`, `{`, ``,
		` { "Content" : "a\u00e9\"b" } `, "{\"Content\":\"\xff\"}", `{"Content":"x"}}`, `{"Content":"x","Content":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		content, err := ParseChime(body)
		checkParsed(t, content, err)
		// The fast path decodes exactly as encoding/json does.
		if fast, ok := chimeFast(body); ok {
			slow, serr := parseChimeJSON(body)
			if slow != content || (serr == nil) != (err == nil) || (err == nil && fast != content) {
				t.Fatalf("%q: fast %q %v, encoding/json %q %v", body, content, err, slow, serr)
			}
		}
		if err == nil && len(content) > ChimeMaxContentBytes {
			t.Fatalf("content of %d bytes accepted", len(content))
		}
	})
}

func FuzzGoogleChat(f *testing.F) {
	for _, s := range []struct{ body, query string }{
		{`{"text":"<users/all> *Prod down*: see <https://status.example.com|status page>"}`, "alt=json&prettyPrint=false"},
		{`{"text":"retry #2 failed","thread":{"threadKey":"incident-1234"}}`, "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"},
		{`{"text":"x","thread":{"name":"spaces/r/threads/t"}}`, "messageReplyOption=REPLY_MESSAGE_OR_FAIL&requestId=1"},
		{`{"cardsV2":[{"cardId":"c","card":{"header":{"title":"T","subtitle":"S"},"sections":[{"header":"H","widgets":[{"textParagraph":{"text":"<b>bold</b> <a href=\"https://x.example\">x</a>"}},{"buttonList":{"buttons":[{"text":"Open","onClick":{"openLink":{"url":"https://example.com"}}}]}}]}]}}]}`, ""},
		{`{"cards":[{"header":{"title":"Old"},"sections":[{"widgets":[{"keyValue":{"topLabel":"k","content":"v"}}]}]}],"fallbackText":"fb"}`, "threadKey=legacy"},
		{`{"text":"x","unknown":1}`, ""}, {`{"text":1}`, ""}, {`{}`, ""}, {`nope`, ""},
	} {
		f.Add([]byte(s.body), s.query)
	}
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		q, _ := url.ParseQuery(query)
		m, err := ParseGoogleChat(body, q)
		checkParsed(t, m.Text, err)
		if err == nil && len(body) > 0 && len(m.Text) > 2*GoogleChatMaxBytes+len(body) {
			t.Fatalf("text grew to %d bytes from a %d-byte body", len(m.Text), len(body))
		}
		if sp, th, ok := ParseThreadName(m.ThreadName); ok && (sp == "" || th == "") {
			t.Fatalf("thread name %q split into %q %q", m.ThreadName, sp, th)
		}
	})
}

// FuzzGoogleChatObject: the scan of a Google Chat message's keys (objectKeys) gives what
// reading it a token at a time gives: the same values by the same names, or the same error.
func FuzzGoogleChatObject(f *testing.F) {
	for _, s := range []string{
		`{"text":"retry #2 failed","thread":{"threadKey":"incident-1234"}}`, `{}`, ` { } `, `{"text":"x","unknown":1}`,
		`{"unknown":1,"text":"x","other":2}`, `{"te\u0078t":"x"}`, `{"text":"a\"b","text":"c"}`, `{"fallback_text":"f","cardsV2":[{"a":"}"}]}`,
		`{"thread":{"name":"spaces/r/threads/t","thread_key":"k"}}`, `{"text":null,"thread":null}`, `{"text":1.5e3,"sender":true}`,
		"{\"t\xffxt\":1}", "{\"text\":\"\xff\"}", `{"text":"x"}}`, `{"text":"x"} {}`, `[1]`, `"s"`, `12`, `null`, `{`, `{"text"}`, ``,
		"{\"text\":\"caf\u00e9 \\u00e9\"}", `{"cards":[[],{},[{"x":[1,{"y":"]"}]}]],"text":"\\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []struct {
			fields map[string]string
			where  string
		}{{googleMessageFields, "message"}, {googleThreadFields, "message.thread"}} {
			got, err := decodeObject(body, c.fields, c.where)
			want, werr := decodeObjectTokens(body, c.fields, c.where)
			if fmt.Sprint(err) != fmt.Sprint(werr) || len(got) != len(want) {
				t.Fatalf("%q as %s: %v %v; a token at a time: %v %v", body, c.where, got, err, want, werr)
			}
			for k, v := range want {
				if string(got[k]) != string(v) {
					t.Fatalf("%q as %s: %s is %q; a token at a time: %q", body, c.where, k, got[k], v)
				}
			}
			for name, raw := range want {
				s, serr := stringField(want, name, c.where)
				var u string
				uerr := json.Unmarshal(raw, &u)
				if string(raw) != "null" && (serr == nil) != (uerr == nil) || serr == nil && uerr == nil && s != u {
					t.Fatalf("%s = %q: stringField %q %v; encoding/json %q %v", name, raw, s, serr, u, uerr)
				}
			}
		}
	})
}

func FuzzSlack(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"text":"Build <https://ci.example.com/42|#42> *failed*","username":"ci","icon_emoji":":rotating_light:","thread_ts":"1712345678.000100"}`},
		{"application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":"hello","attachments":[{"color":"#36a64f","title":"Deploy","text":"ok"}]}`)},
		{"application/x-www-form-urlencoded", `{"text":"curl -d"}`},
		{"", `{"attachments":[{"pretext":"p","title":"t","title_link":"https://x.example","fields":[{"title":"a","value":1,"short":true}],"footer":"f"}]}`},
		{"application/json", `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]}`},
		{"text/plain", `{"text":""}`}, {"", `[`}, {"application/x-www-form-urlencoded", "payload=%zz"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseSlack(ct, body)
		checkParsed(t, m.Text, err)
		if err == nil && utf8.RuneCountInString(m.Text) > SlackMaxTextChars {
			t.Fatalf("text of %d characters not truncated", utf8.RuneCountInString(m.Text))
		}
	})
}

func FuzzMattermost(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"", `{"text":"#### Build 42\n| job | result |\n|---|---|\n| test | :white_check_mark: |"}`},
		{"application/json", "{\"text\":\"line one\nline\ttwo\"}"},
		{"application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":"form"}`)},
		{"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nmultipart text\r\n--XX--\r\n"},
		{"application/json", `{"attachments":[{"title":"t","title_link":"https://x.example","text":"a"}]}`},
		{"bad/;;", `{"text":"x"}`}, {"", `{"text":""}`}, {"", `"\`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseMattermost(ct, body)
		// Mattermost text is split into posts of at most MattermostMaxPostRunes each.
		if err != nil {
			checkParsed(t, m.Text, err)
			return
		}
		parts := SplitMattermost(m.Text)
		if len(parts) == 0 {
			t.Fatal("no post for accepted text")
		}
		for _, p := range parts {
			checkParsed(t, p, nil)
			if utf8.RuneCountInString(p) > MattermostMaxPostRunes {
				t.Fatalf("a post of %d characters", utf8.RuneCountInString(p))
			}
		}
	})
}
