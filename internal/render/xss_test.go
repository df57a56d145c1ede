package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// xssVectors are rendered in every format; each output must pass checkSafe and must not
// contain a raw tag of a dangerous element. More vectors (multi-line ones) live in
// testdata/xss/*.txt, one per file.
var xssVectors = []string{
	`<script>alert(1)</script>`,
	`<SCRIPT SRC=http://x.example/xss.js></SCRIPT>`,
	`<img src=x onerror=alert(1)>`,
	`<img src=x onerror=alert(1)`,
	`<svg onload=alert(1)>`,
	`<svg><script>alert(1)</script></svg>`,
	`<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<template><script>alert(1)</script></template>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<scr<script>ipt>alert(1)</script>`,
	`<<script>script>alert(1)<</script>/script>`,
	`<!--<img src=x onerror=alert(1)>-->`,
	`<style>*{background:url(javascript:alert(1))}</style>`,
	`<p style="background:url(javascript:alert(1))">x</p>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<iframe srcdoc="<script>alert(1)</script>">`,
	`<object data="javascript:alert(1)">`,
	`<embed src="javascript:alert(1)">`,
	`<form action="javascript:alert(1)"><input type=submit>`,
	`<base href="javascript:alert(1)//">`,
	`<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
	`<link rel=stylesheet href=javascript:alert(1)>`,
	`<body onload=alert(1)>`,
	`<details open ontoggle=alert(1)>`,
	`<video><source onerror=alert(1)>`,
	`<a href="javascript:alert(1)" onclick="alert(1)">x</a>`,
	`<a href="http://x.example" onclick="alert(1)">x</a>`,
	`<a href="&#x6A;avascript:alert(1)">x</a>`,
	`<a href=http://x.example style="position:fixed">x</a>`,
	`[x](javascript:alert(1))`,
	`[x](JaVaScRiPt:alert(1))`,
	`[x](  javascript:alert(1))`,
	`[x](jav&#x09;ascript:alert(1))`,
	`[x](jav&#x0A;ascript:alert(1))`,
	`[x](&#106;avascript:alert(1))`,
	`[x](javascript&colon;alert(1))`,
	`[x](java%0ascript:alert(1))`,
	`[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
	`[x](vbscript:msgbox(1))`,
	`[x](//evil.example/x)`,
	`[x](\\evil.example)`,
	`[x](http://x.example" onclick="alert(1))`,
	`[x](<http://x.example" onclick="alert(1)>)`,
	`[x"><script>alert(1)</script>](http://x.example)`,
	`[x](https://x.example/"><script>alert(1)</script>)`,
	`![x](javascript:alert(1))`,
	`![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)`,
	`![x" onerror="alert(1)](http://x.example/a.png)`,
	`<javascript:alert(1)>`,
	`<javascript:alert(1)|x>`,
	`<JAVASCRIPT:alert(1)|x>`,
	`<jav&#x09;ascript:alert(1)|x>`,
	`<jav	ascript:alert(1)|x>`,
	`<data:text/html,<script>alert(1)</script>|x>`,
	`<data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==|x>`,
	`<vbscript:msgbox(1)|x>`,
	`<http://x.example" onmouseover="alert(1)|label>`,
	`<http://x.example|" onmouseover="alert(1)>`,
	`<http://x.example|<img src=x onerror=alert(1)>>`,
	`<https://x.example/"><script>alert(1)</script>>`,
	`<users/"><script>alert(1)</script>>`,
	`<users/x" onclick="alert(1)>`,
	`<@U1"onmouseover=alert(1)|x>`,
	`<@U1|<img src=x onerror=alert(1)>>`,
	`<!here|<img src=x onerror=alert(1)>>`,
	`<#C1|"><script>alert(1)</script>>`,
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
	`&#60;script&#62;alert(1)&#60;/script&#62;`,
	`&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;`,
	`http://x.example/<script>alert(1)</script>`,
	`http://x.example/"onmouseover="alert(1)`,
	`www.x.example/"><img src=x onerror=alert(1)>`,
	`mailto:x@y.example?subject=<script>`,
	`x@y.example"><script>alert(1)</script>`,
	"`<script>alert(1)</script>`",
	"*<img src=x onerror=alert(1)>*",
	"_<svg onload=alert(1)>_",
	"~<iframe src=javascript:alert(1)>~",
	"@<script>alert(1)</script> @x\"onclick=alert(1)",
	":<script>: :\"><img src=x onerror=alert(1)>:",
	"<3<script>alert(1)</script>",
}

// dangerousRaw must never appear in output as raw markup (escaped forms start with &lt;).
// Attributes and URLs are checked by checkSafe on the tokenized output: as escaped text,
// "onerror=" or "javascript:" are harmless and expected.
var dangerousRaw = []string{
	"<script", "<img", "<svg", "<iframe", "<math", "<template", "<style", "<object", "<embed",
	"<form", "<input", "<base", "<meta", "<link", "<body", "<details", "<video", "<source", "<noscript",
	"<!--", "<!doctype",
}

func loadXSSFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "xss", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	if len(out) == 0 {
		t.Fatal("no vectors in testdata/xss")
	}
	return out
}

func TestXSSCorpus(t *testing.T) {
	vectors := append(append([]string(nil), xssVectors...), loadXSSFiles(t)...)
	if len(vectors) < 40 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		for _, f := range []Format{Markdown, GChat, Slack} {
			for _, in := range []string{v, "text before " + v + " after", "*" + v + "*", "> " + v, "- " + v} {
				res := testRenderer.Render(f, in)
				if err := checkSafe(res.HTML); err != nil {
					t.Errorf("%s %q: %v\noutput: %q", f, in, err, res.HTML)
					continue
				}
				low := strings.ToLower(res.HTML)
				for _, d := range dangerousRaw {
					if strings.Contains(low, d) {
						t.Errorf("%s %q: output contains %q\noutput: %q", f, in, d, res.HTML)
					}
				}
			}
		}
	}
}

// TestXSSLinksNotLinked checks that dangerous link targets are not turned into links at
// all, while their label survives as text.
func TestXSSLinksNotLinked(t *testing.T) {
	cases := []struct {
		f     Format
		in    string
		label string
	}{
		{Markdown, "[click me](javascript:alert(1))", "click me"},
		{Markdown, "[click me](jav&#x09;ascript:alert(1))", "click me"},
		{Markdown, "[click me](data:text/html,x)", "click me"},
		{Markdown, "[click me](vbscript:x)", "click me"},
		{Markdown, "[click me](/relative)", "click me"},
		{Slack, "<javascript:alert(1)|click me>", "click me"},
		{Slack, "<data:text/html,x|click me>", "click me"},
		{GChat, "<javascript:alert(1)|click me>", "click me"},
		{GChat, "<vbscript:x|click me>", "click me"},
	}
	for _, tc := range cases {
		res := testRenderer.Render(tc.f, tc.in)
		if strings.Contains(res.HTML, "<a") {
			t.Errorf("%s %q: linked: %q", tc.f, tc.in, res.HTML)
		}
		if !strings.Contains(res.HTML, tc.label) {
			t.Errorf("%s %q: label lost: %q", tc.f, tc.in, res.HTML)
		}
	}
}

// TestSanitizerPolicy feeds hostile HTML straight to the policy, as if a renderer bug let
// it through, to check the policy itself.
func TestSanitizerPolicy(t *testing.T) {
	p := newPolicy()
	for _, v := range xssVectors {
		out := p.Sanitize(v)
		if err := checkSafe(out); err != nil {
			t.Errorf("policy let through %q: %v (%q)", v, err, out)
		}
	}
	for in, want := range map[string]string{
		`<a href="http://x.example">x</a>`:                                           `<a href="http://x.example" rel="nofollow noopener" target="_blank">x</a>`,
		`<a href="mailto:a@b.example" rel="nofollow noopener" target="_blank">m</a>`: `<a href="mailto:a@b.example" rel="nofollow noopener" target="_blank">m</a>`,
		`<span class="mention">@x</span><span class="evil">y</span>`:                 `<span class="mention">@x</span><span>y</span>`,
		`<p onclick="x" style="color:red">t</p>`:                                     `<p>t</p>`,
	} {
		if got := p.Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
