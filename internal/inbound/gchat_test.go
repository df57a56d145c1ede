package inbound_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

type gStatus struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

func TestGoogleChat(t *testing.T) {
	t.Parallel()
	f := setup(t, apptest.Options{})
	v := f.valid
	u := v.URLs.GoogleChat
	otherSpace := strings.Replace(u, "/spaces/r/", "/spaces/gone/", 1)
	noKey := strings.Replace(u, "key="+v.ID+"&", "", 1)
	noToken := strings.Split(u, "&token=")[0]
	cases := []struct {
		name, url, body string
		status          int
		gstatus         string
	}{
		{"text", u, `{"text":"*bold* <https://example.com|site>"}`, 200, ""},
		{"client library query", u + "&alt=json&prettyPrint=false", `{"text":"hi"}`, 200, ""},
		{"output-only fields ignored", u, `{"text":"hi","name":"spaces/x/messages/y","createTime":"2025-01-01T00:00:00Z","sender":{"name":"users/1"}}`, 200, ""},
		{"proto field names", u, `{"text":"hi","fallback_text":"f","thread":{"thread_key":"k"}}`, 200, ""},
		{"cardsV2 only", u, `{"cardsV2":[{"cardId":"c","card":{"header":{"title":"Deploy"},"sections":[{"widgets":[{"textParagraph":{"text":"done"}}]}]}}]}`, 200, ""},
		{"unknown field", u, `{"text":"hi","colour":"red"}`, 400, "INVALID_ARGUMENT"},
		{"unknown thread field", u, `{"text":"hi","thread":{"key":"k"}}`, 400, "INVALID_ARGUMENT"},
		{"text not a string", u, `{"text":5}`, 400, "INVALID_ARGUMENT"},
		{"invalid JSON", u, `{"text":`, 400, "INVALID_ARGUMENT"},
		{"not JSON", u, `text=hello`, 400, "INVALID_ARGUMENT"},
		{"empty message", u, `{}`, 400, "INVALID_ARGUMENT"},
		{"empty body", u, ``, 400, "INVALID_ARGUMENT"},
		{"32000 bytes", u, fmt.Sprintf(`{"text":%q}`, strings.Repeat("a", 32000)), 200, ""},
		{"over 32000 bytes", u, fmt.Sprintf(`{"text":%q}`, strings.Repeat("a", 32001)), 400, "INVALID_ARGUMENT"},
		{"text and cards over 32000 bytes", u, fmt.Sprintf(`{"text":%q,"cardsV2":[{"card":{"header":{"title":"x"}}}]}`, strings.Repeat("a", 31990)), 400, "INVALID_ARGUMENT"},
		{"bad messageReplyOption", u + "&messageReplyOption=SOMETIMES", `{"text":"hi"}`, 400, "INVALID_ARGUMENT"},
		{"wrong token", wrongToken(u, v), `{"text":"hi"}`, 401, "UNAUTHENTICATED"},
		{"no token", noToken, `{"text":"hi"}`, 401, "UNAUTHENTICATED"},
		{"unknown key", unknownID(u, v), `{"text":"hi"}`, 404, "NOT_FOUND"},
		{"no key", noKey, `{"text":"hi"}`, 404, "NOT_FOUND"},
		{"other space", otherSpace, `{"text":"hi"}`, 404, "NOT_FOUND"},
		{"regenerated", f.regenerated.URLs.GoogleChat, `{"text":"hi"}`, 404, "NOT_FOUND"},
		{"deleted", f.deleted.URLs.GoogleChat, `{"text":"hi"}`, 404, "NOT_FOUND"},
		{"room deleted", f.gone.URLs.GoogleChat, `{"text":"hi"}`, 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, c.url, "application/json; charset=UTF-8", c.body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, c.status, r.Body)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			if c.gstatus == "" {
				checkGoogleSuccess(t, r.Body, "r")
				return
			}
			var s gStatus
			var raw map[string]map[string]any
			if err := json.Unmarshal([]byte(r.Body), &s); err != nil || json.Unmarshal([]byte(r.Body), &raw) != nil || len(raw) != 1 || len(raw["error"]) != 3 {
				t.Fatalf("not a google.rpc.Status: %s", r.Body)
			}
			if s.Error.Code != c.status || s.Error.Status != c.gstatus || s.Error.Message == "" {
				t.Fatalf("error %s, want %d %s", r.Body, c.status, c.gstatus)
			}
		})
	}
	// Cards are stored as text appended to the message.
	r := post(t, u, "", `{"text":"Deploy report","cardsV2":[{"cardId":"c","card":{"header":{"title":"Deploy","subtitle":"prod"},"sections":[{"header":"Result","widgets":[{"decoratedText":{"topLabel":"status","text":"<b>green</b>"}},{"buttonList":{"buttons":[{"text":"Open","onClick":{"openLink":{"url":"https://ci.example.com/1"}}}]}}]}]}}]}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := lastMessage(t, f.s, "r")
	for _, want := range []string{"Deploy report", "*Deploy*", "prod", "*Result*", "status", "*green*", "<https://ci.example.com/1|Open>"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("card text lacks %q: %q", want, m.Text)
		}
	}
	if m.Format != "gchat" || !strings.Contains(m.HTML, `href="https://ci.example.com/1"`) {
		t.Errorf("stored %s %q", m.Format, m.HTML)
	}
}

// checkGoogleSuccess checks the body is exactly {"name","thread":{"name"}} and returns
// the message and thread ids.
func checkGoogleSuccess(t *testing.T, body, room string) (msg, thread string) {
	t.Helper()
	var raw map[string]json.RawMessage
	var m struct {
		Name   string `json:"name"`
		Thread struct {
			Name string `json:"name"`
		} `json:"thread"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw) != 2 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("success body %s", body)
	}
	var th map[string]any
	_ = json.Unmarshal(raw["thread"], &th)
	msg, ok1 := strings.CutPrefix(m.Name, "spaces/"+room+"/messages/")
	thread, ok2 := strings.CutPrefix(m.Thread.Name, "spaces/"+room+"/threads/")
	if !ok1 || !ok2 || msg == "" || thread == "" || len(th) != 1 {
		t.Fatalf("success body %s", body)
	}
	return msg, thread
}

// Thread behaviours of messageReplyOption, as Google Chat documents them.
func TestGoogleChatThreads(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "t")
	h := newHook(t, s, "t", "Threads")
	send := func(query, body string) reply {
		t.Helper()
		return post(t, h.URLs.GoogleChat+query, "application/json", body)
	}
	ok := func(r reply) (string, string) {
		t.Helper()
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		return checkGoogleSuccess(t, r.Body, "t")
	}
	const fallback, orFail = "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "&messageReplyOption=REPLY_MESSAGE_OR_FAIL"

	// FALLBACK with an unknown key starts a new thread with that key...
	m1, t1 := ok(send(fallback, `{"text":"first","thread":{"threadKey":"incident-1"}}`))
	if m1 != t1 {
		t.Fatalf("a new thread is named by its first message: %s %s", m1, t1)
	}
	// ...and the next message with the key replies in it.
	m2, t2 := ok(send(fallback, `{"text":"second","thread":{"threadKey":"incident-1"}}`))
	if t2 != t1 || m2 == m1 {
		t.Fatalf("fallback reply went to %s, want %s", t2, t1)
	}
	// OR_FAIL with a known key replies; by thread.name too.
	if _, t3 := ok(send(orFail, `{"text":"third","thread":{"threadKey":"incident-1"}}`)); t3 != t1 {
		t.Fatalf("or-fail reply went to %s", t3)
	}
	if _, t4 := ok(send(orFail, `{"text":"fourth","thread":{"name":"spaces/t/threads/`+t1+`"}}`)); t4 != t1 {
		t.Fatalf("reply by thread.name went to %s", t4)
	}
	// The legacy threadKey query parameter works like thread.threadKey.
	if _, t5 := ok(send(fallback+"&threadKey=incident-1", `{"text":"fifth"}`)); t5 != t1 {
		t.Fatalf("legacy threadKey reply went to %s", t5)
	}
	// OR_FAIL with an unknown key or thread: 404 NOT_FOUND and nothing posted.
	before := len(messages(t, s, "t"))
	for _, body := range []string{
		`{"text":"x","thread":{"threadKey":"never-seen"}}`,
		`{"text":"x","thread":{"name":"spaces/t/threads/msg_nope"}}`,
		`{"text":"x","thread":{"name":"spaces/other/threads/` + t1 + `"}}`,
		`{"text":"x"}`,
	} {
		r := send(orFail, body)
		var st gStatus
		_ = json.Unmarshal([]byte(r.Body), &st)
		if r.Status != 404 || st.Error.Status != "NOT_FOUND" || st.Error.Code != 404 {
			t.Errorf("or-fail %s: %d %s", body, r.Status, r.Body)
		}
	}
	if after := len(messages(t, s, "t")); after != before {
		t.Fatalf("OR_FAIL failures posted %d messages", after-before)
	}
	// FALLBACK with an unknown thread.name starts a new thread.
	if m6, t6 := ok(send(fallback, `{"text":"x","thread":{"name":"spaces/t/threads/msg_nope"}}`)); t6 != m6 || t6 == t1 {
		t.Fatalf("fallback with unknown thread: %s %s", m6, t6)
	}
	// Unspecified (absent or explicit) always starts a new thread, ignoring the key and
	// name; the key then names the new thread.
	m7, t7 := ok(send("", `{"text":"x","thread":{"threadKey":"incident-1","name":"spaces/t/threads/`+t1+`"}}`))
	if t7 != m7 || t7 == t1 {
		t.Fatalf("unspecified replied in %s", t7)
	}
	if _, t8 := ok(send(fallback, `{"text":"x","thread":{"threadKey":"incident-1"}}`)); t8 != t7 {
		t.Fatalf("the key was not attached to the unspecified message's thread: %s, want %s", t8, t7)
	}
	if m9, t9 := ok(send("&messageReplyOption=MESSAGE_REPLY_OPTION_UNSPECIFIED", `{"text":"x","thread":{"threadKey":"incident-1"}}`)); t9 != m9 {
		t.Fatalf("explicit unspecified replied in %s", t9)
	}
}

// requestId: a repeat returns the original message and creates nothing.
func TestGoogleChatRequestID(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "q")
	h := newHook(t, s, "q", "Q")
	a := post(t, h.URLs.GoogleChat+"&requestId=req-1", "application/json", `{"text":"once"}`)
	b := post(t, h.URLs.GoogleChat+"&requestId=req-1", "application/json", `{"text":"once again"}`)
	c := post(t, h.URLs.GoogleChat+"&requestId=req-2", "application/json", `{"text":"twice"}`)
	if a.Status != 200 || b.Status != 200 || c.Status != 200 || a.Body != b.Body || a.Body == c.Body {
		t.Fatalf("a %d %s\nb %d %s\nc %d %s", a.Status, a.Body, b.Status, b.Body, c.Status, c.Body)
	}
	if ms := messages(t, s, "q"); len(ms) != 2 || ms[0].Text != "once" {
		t.Fatalf("messages %+v", ms)
	}
}
