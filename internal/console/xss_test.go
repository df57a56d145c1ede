package console_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// corpus reads the XSS vectors the renderer and the dialect handlers are tested with: the
// xssVectors slices of their test files and the renderer's testdata/xss files.
func corpus(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"../render/xss_test.go", "../inbound/xss_test.go"} {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatalf("read the corpus in %s: %v", f, err)
		}
		n := 0
		ast.Inspect(file, func(node ast.Node) bool {
			vs, ok := node.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "xssVectors" || len(vs.Values) != 1 {
				return true
			}
			for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
				lit, ok := e.(*ast.BasicLit)
				if !ok {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				out = append(out, s)
				n++
			}
			return false
		})
		if n < 20 {
			t.Fatalf("%s: only %d vectors found", f, n)
		}
	}
	files, err := filepath.Glob("../render/testdata/xss/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("render testdata: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestXSSCorpusInTheRoomPage posts every vector through every dialect (and the API), opens
// each room in Chromium and checks that nothing ran: no dialog, no console error, no CSP
// violation, no request to another host, and no active element or attribute in the DOM.
func TestXSSCorpusInTheRoomPage(t *testing.T) {
	b := newBrowser(t)
	s := apptest.Start(t, apptest.Options{})
	host := strings.TrimPrefix(s.URL, "http://")
	vectors := corpus(t)
	t.Logf("%d vectors, each through 4 dialects and the API", len(vectors))
	s.Must(201, "POST", "/api/v1/users", map[string]any{"id": "mallory", "name": `Mallory <img src=x onerror=alert(1)>`})

	type dialect struct {
		name string
		post func(v string) int
	}
	var dialects []dialect
	for _, d := range []struct{ name, url, field string }{
		{"chime", "chime", "Content"},
		{"google_chat", "google_chat", "text"},
		{"slack", "slack", "text"},
		{"mattermost", "mattermost", "text"},
	} {
		room := "xss-" + strings.ReplaceAll(d.name, "_", "-")
		s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": room, "name": "XSS " + d.name})
		var hook struct {
			URLs map[string]string `json:"urls"`
		}
		s.Must(201, "POST", "/api/v1/rooms/"+room+"/webhooks", map[string]any{"name": `Hook"><script>alert(1)</script>`}).JSON(t, &hook)
		u, field := hook.URLs[d.url], d.field
		dialects = append(dialects, dialect{room, func(v string) int {
			body, _ := json.Marshal(map[string]string{field: v})
			return post(t, u, string(body))
		}})
	}
	s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": "xss-api", "name": "XSS api", "member_ids": []string{"mallory"}})
	dialects = append(dialects, dialect{"xss-api", func(v string) int {
		return s.Do("POST", "/api/v1/rooms/xss-api/messages", map[string]any{"sender_id": "mallory", "text": v}).Status
	}})

	tb := b.tab(nil, false, host)
	tb.signIn(s.URL)
	for _, d := range dialects {
		posted := 0
		for _, v := range vectors {
			switch st := d.post(v); {
			case st == 200 || st == 201:
				posted++
			case st == 400:
				// A dialect may refuse a vector outright (e.g. an empty message once parsed).
			default:
				t.Fatalf("%s: posting %q answered %d", d.name, v, st)
			}
		}
		if posted < len(vectors)*3/4 {
			t.Fatalf("%s: only %d of %d vectors accepted", d.name, posted, len(vectors))
		}
		tb.open(s.URL + "/rooms/" + d.name)
		tb.wait(fmt.Sprintf("%d messages in %s", posted, d.name), fmt.Sprintf(`document.querySelectorAll('#messages .msg').length === %d`, posted))
		// Hover and click every link and mention, as a reader would.
		tb.run(`for (const el of document.querySelectorAll('#messages .msg-body *')) {
			for (const type of ['mouseover', 'mouseenter', 'focus', 'animationstart', 'toggle']) el.dispatchEvent(new Event(type));
		}`)
		bad := tb.str(`(() => {
			const out = [];
			for (const el of document.querySelectorAll('#messages .msg-body *')) {
				const tag = el.tagName.toLowerCase();
				if (['script', 'img', 'svg', 'math', 'iframe', 'object', 'embed', 'form', 'input', 'style', 'link', 'meta', 'base', 'video', 'audio', 'source', 'details', 'template', 'noscript', 'body'].includes(tag)) out.push('<' + tag + '>');
				for (const a of el.attributes) {
					if (a.name.startsWith('on') || a.name === 'style' || a.name === 'srcdoc' || a.name === 'formaction') out.push(tag + '[' + a.name + ']');
					if ((a.name === 'href' || a.name === 'src' || a.name === 'action') && !/^(https?:|mailto:)/i.test(a.value.trim())) out.push(tag + '[' + a.name + '=' + a.value + ']');
				}
			}
			return out.join(' ');
		})()`)
		if bad != "" {
			t.Errorf("%s: active markup in the room page: %s", d.name, bad)
		}
		if d.name == "xss-slack" {
			tb.shot("xss-room")
		}
		tb.rec.check(t)
	}

	// The harness itself: an injected inline script is blocked by the CSP and reported, and
	// a dialog is noticed, so the silence above means something.
	tb.run(`document.body.append(Object.assign(document.createElement('script'), {textContent: 'window.__inline = true'}))`)
	if tb.str(`String(window.__inline === true)`) != "false" {
		t.Error("an inline script ran: the Content-Security-Policy is missing")
	}
	apptest.Eventually(t, waitFor, "the CSP violation to be reported", func() bool { return tb.rec.has("Content Security Policy") })
	tb.run(`setTimeout(() => alert('canary'), 0)`)
	apptest.Eventually(t, waitFor, "the canary dialog to be noticed", func() bool { return tb.rec.has("canary") })
	tb.rec.reset()
}
