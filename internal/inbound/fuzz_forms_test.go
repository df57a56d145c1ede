package inbound

import (
	"bytes"
	"mime/multipart"
	"net/url"
	"testing"
)

// FuzzMattermostMultipart builds a well-formed multipart/form-data body from fuzzed field
// names, values and boundary, so the fuzzer explores the fields inside the envelope (text,
// payload JSON, attachments, unknown and repeated fields) rather than stopping at a broken
// envelope.
func FuzzMattermostMultipart(f *testing.F) {
	f.Add("XX", "text", "hello", "payload", `{"text":"json"}`)
	f.Add("b0undary", "payload", `{"text":"x","attachments":[{"title":"t"}]}`, "text", "")
	f.Add("--", "text", "\xff\xfe invalid utf-8", "channel", "other")
	f.Add("a", "", "", "text", "ok")
	f.Fuzz(func(t *testing.T, boundary, k1, v1, k2, v2 string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		if w.SetBoundary(boundary) != nil {
			return
		}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}} {
			fw, err := w.CreateFormField(kv[0])
			if err != nil {
				return
			}
			_, _ = fw.Write([]byte(kv[1]))
		}
		_ = w.Close()
		m, err := ParseMattermost(w.FormDataContentType(), b.Bytes())
		checkParsed(t, m.Text, err)
	})
}

// FuzzSlackForm fuzzes the payload field of Slack's form encoding together with the other
// fields a form may carry.
func FuzzSlackForm(f *testing.F) {
	f.Add(`{"text":"hello"}`, "other", "x")
	f.Add(`{"attachments":[{"fallback":"f","fields":[{"title":"a","value":"b"}]}]}`, "payload", `{"text":"second"}`)
	f.Add(`{"text":"<@U1|x> <!here> <https://a.example|a>"}`, "", "")
	f.Fuzz(func(t *testing.T, payload, k, v string) {
		form := url.Values{"payload": {payload}}
		if k != "" {
			form.Add(k, v)
		}
		m, err := ParseSlack("application/x-www-form-urlencoded", []byte(form.Encode()))
		checkParsed(t, m.Text, err)
	})
}

// FuzzThreadName: ParseThreadName accepts only spaces/{space}/threads/{thread} with both
// parts non-empty and without further slashes.
func FuzzThreadName(f *testing.F) {
	for _, s := range []string{"spaces/a/threads/b", "spaces//threads/b", "spaces/a/threads/", "spaces/a/threads/b/c", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		sp, th, ok := ParseThreadName(name)
		if !ok {
			return
		}
		if sp == "" || th == "" || "spaces/"+sp+"/threads/"+th != name {
			t.Fatalf("ParseThreadName(%q) = %q, %q, true", name, sp, th)
		}
	})
}
