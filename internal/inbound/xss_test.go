package inbound_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/chathooks/chathooks/internal/apptest"
)

// xssVectors are written in every dialect's syntax where it has one.
var xssVectors = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	`<svg onload=alert(1)><script>alert(2)</script></svg>`,
	`<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<a href="JaVaScRiPt:alert(1)">click</a>`,
	`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<body onload=alert(1)>`,
	`<div style="background:url(javascript:alert(1))">s</div>`,
	`<<script>script>alert(1)<</script>/script>`,
	`<scr<script>ipt>alert(1)</script>`,
	`<img src="x" onerror="alert(1)"`,
	`"><script>alert(1)</script>`,
	"[md](javascript:alert(1)) [md2](data:text/html,<script>alert(1)</script>) ![i](javascript:alert(1))",
	"[ref][r]\n\n[r]: javascript:alert(1)",
	"<javascript:alert(1)>",
	"<javascript:alert(1)|slack link> <data:text/html,x|data link> <vbscript:msgbox(1)|vb>",
	"<https://ok.example\" onmouseover=\"alert(1)|quoted>",
	"```\n</code><script>alert(1)</script>\n```",
	"`<img src=x onerror=alert(1)>`",
	"*<b onclick=alert(1)>bold</b>*",
	"<users/all\" onclick=\"alert(1)> <@U1 onclick=alert(1)>",
	"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
	"<details open ontoggle=alert(1)>",
	"<form action=javascript:alert(1)><input type=submit>",
}

var allowedTags = map[string]bool{
	"p": true, "br": true, "a": true, "strong": true, "b": true, "em": true, "i": true, "del": true, "s": true,
	"code": true, "pre": true, "blockquote": true, "ul": true, "ol": true, "li": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "table": true, "thead": true, "tbody": true, "tr": true,
	"th": true, "td": true, "hr": true, "span": true, "img": true,
}

// checkHTML fails on anything executable: tags outside the allow-list, on* attributes,
// style, and URLs other than http, https and mailto.
func checkHTML(t *testing.T, where, s string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken && tt != html.EndTagToken {
			continue
		}
		tok := z.Token()
		if !allowedTags[tok.Data] {
			t.Errorf("%s: tag <%s> in %s", where, tok.Data, s)
		}
		for _, a := range tok.Attr {
			k := strings.ToLower(a.Key)
			if strings.HasPrefix(k, "on") || k == "style" || k == "formaction" || k == "srcdoc" {
				t.Errorf("%s: attribute %s in %s", where, a.Key, s)
			}
			if k == "href" || k == "src" || k == "action" || strings.HasSuffix(k, ":href") {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "mailto:") {
					t.Errorf("%s: %s=%q in %s", where, a.Key, a.Val, s)
				}
			}
		}
	}
}

// Every vector, posted through every real endpoint (text, and where the dialect has them,
// cards, attachments' title_link and links), is stored as HTML with nothing executable.
func TestXSS(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "xss")
	h := newHook(t, s, "xss", "X")
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	posted := 0
	for _, v := range xssVectors {
		for _, p := range []struct{ url, ct, body string }{
			{h.URLs.Chime, "application/json", `{"Content":` + q(v) + `}`},
			{h.URLs.Chime, "application/json", `{"Content":` + q("/md "+v) + `}`},
			{h.URLs.GoogleChat, "application/json", `{"text":` + q(v) + `}`},
			{h.URLs.GoogleChat, "application/json", `{"text":` + q("<javascript:alert(1)|"+v+">") + `}`},
			{h.URLs.GoogleChat, "application/json", `{"cardsV2":[{"card":{"header":{"title":` + q(v) + `},"sections":[{"widgets":[{"textParagraph":{"text":` + q(v) + `}},{"buttonList":{"buttons":[{"text":` + q(v) + `,"onClick":{"openLink":{"url":"javascript:alert(1)"}}}]}}]}]}}]}`},
			{h.URLs.Slack, "application/json", `{"text":` + q(v) + `}`},
			{h.URLs.Slack, "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":`+q("<javascript:alert(1)|"+v+">")+`}`)},
			{h.URLs.Slack, "application/json", `{"attachments":[{"pretext":` + q(v) + `,"title":` + q(v) + `,"title_link":"javascript:alert(1)","text":` + q(v) + `,"fields":[{"title":` + q(v) + `,"value":` + q(v) + `}],"footer":` + q(v) + `,"author_name":"a","author_link":"data:text/html,x"}]}`},
			{h.URLs.Slack, "application/json", `{"attachments":[{"title":"t","title_link":` + q("https://ok.example/\"><script>alert(1)</script>") + `}]}`},
			{h.URLs.Mattermost, "", `{"text":` + q(v) + `}`},
			{h.URLs.Mattermost, "", `{"attachments":[{"title":` + q(v) + `,"title_link":"javascript:alert(1)","text":` + q(v) + `}]}`},
		} {
			r := post(t, p.url, p.ct, p.body)
			if r.Status != 200 {
				t.Errorf("%s %q: %d %s", p.url, v, r.Status, r.Body)
				continue
			}
			posted++
		}
	}
	var all []string
	after := ""
	for {
		var l struct {
			Items []struct {
				ID, Text, HTML string
			}
			NextCursor string `json:"next_cursor"`
		}
		s.Must(200, "GET", "/api/v1/rooms/xss/messages?limit=200&after="+after, nil).JSON(t, &l)
		for _, m := range l.Items {
			checkHTML(t, m.Text, m.HTML)
			all = append(all, m.ID)
		}
		if len(l.Items) < 200 {
			break
		}
		after = l.Items[len(l.Items)-1].ID
	}
	if len(all) != posted || posted == 0 {
		t.Fatalf("checked %d messages, posted %d", len(all), posted)
	}
}
