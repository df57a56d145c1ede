package render

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var testRenderer = New()

const (
	relTarget = `rel="nofollow noopener" target="_blank"`
)

func link(href, text string) string {
	return `<a href="` + href + `" ` + relTarget + `>` + text + `</a>`
}

func mention(text string) string { return `<span class="mention">` + text + `</span>` }

type renderCase struct {
	name     string
	in       string
	contains []string  // substrings the HTML must contain
	absent   []string  // substrings the HTML must not contain
	want     string    // exact HTML, if set
	mentions []Mention // exact mentions (nil: none)
}

func runCases(t *testing.T, f Format, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := testRenderer.Render(f, tc.in)
			if err := checkSafe(res.HTML); err != nil {
				t.Fatalf("unsafe output %q: %v", res.HTML, err)
			}
			if tc.want != "" && res.HTML != tc.want {
				t.Errorf("Render(%s, %q)\n got: %q\nwant: %q", f, tc.in, res.HTML, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(res.HTML, s) {
					t.Errorf("Render(%s, %q) = %q\nmissing %q", f, tc.in, res.HTML, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(res.HTML, s) {
					t.Errorf("Render(%s, %q) = %q\nmust not contain %q", f, tc.in, res.HTML, s)
				}
			}
			if !reflect.DeepEqual(res.Mentions, tc.mentions) {
				t.Errorf("Render(%s, %q) mentions = %#v, want %#v", f, tc.in, res.Mentions, tc.mentions)
			}
		})
	}
}

func TestChimeSeedExample(t *testing.T) {
	in := "Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present"
	res := testRenderer.Render(Markdown, in)
	for _, s := range []string{
		"emoji test: \U0001F642 \U0001F44D link test",
		`<a href="http://sample.com" ` + relTarget + `>http://sample.com</a>`,
		`<a href="mailto:marymajor@example.com" ` + relTarget + `>marymajor@example.com</a>`,
		mention("@All"), mention("@Present"),
	} {
		if !strings.Contains(res.HTML, s) {
			t.Errorf("missing %q in %q", s, res.HTML)
		}
	}
	want := []Mention{{Kind: MentionAll}, {Kind: MentionPresent}}
	if !reflect.DeepEqual(res.Mentions, want) {
		t.Errorf("mentions = %#v, want %#v", res.Mentions, want)
	}
	if err := checkSafe(res.HTML); err != nil {
		t.Fatal(err)
	}
}

func TestMarkdown(t *testing.T) {
	runCases(t, Markdown, []renderCase{
		{name: "empty", in: "", want: ""},
		{name: "plain", in: "Disk usage at 91 percent on db-1", want: "<p>Disk usage at 91 percent on db-1</p>\n"},
		{name: "paragraphs and breaks", in: "a\nb\n\nc", want: "<p>a<br>\nb</p>\n<p>c</p>\n"},
		{name: "bold", in: "**bold** and __bold__", contains: []string{"<strong>bold</strong> and <strong>bold</strong>"}},
		{name: "italic", in: "*it* and _it_", contains: []string{"<em>it</em> and <em>it</em>"}},
		{name: "strike", in: "~~gone~~", contains: []string{"<del>gone</del>"}},
		{name: "code span", in: "run `make test` now", contains: []string{"<code>make test</code>"}},
		{name: "code block", in: "```go\nfmt.Println(\"<b>\")\n```", contains: []string{`<pre><code class="language-go">fmt.Println(&#34;&lt;b&gt;&#34;)` + "\n</code></pre>"}},
		{name: "indented code", in: "    x := 1", contains: []string{"<pre><code>x := 1\n</code></pre>"}},
		{name: "quote", in: "> quoted\n> more", contains: []string{"<blockquote>\n<p>quoted<br>\nmore</p>\n</blockquote>"}},
		{name: "heading", in: "# Title\n## Sub", contains: []string{"<h1>Title</h1>", "<h2>Sub</h2>"}},
		{name: "lists", in: "- a\n- b\n\n3. c\n4. d", contains: []string{"<ul>\n<li>a</li>\n<li>b</li>\n</ul>", `<ol start="3">`, "<li>c</li>"}},
		{name: "hr", in: "a\n\n---\n\nb", contains: []string{"<hr>"}},
		{name: "link", in: "[docs](https://example.com/a?b=1&c=2)", contains: []string{link("https://example.com/a?b=1&amp;c=2", "docs")}},
		{name: "link with title", in: `[docs](https://example.com "T")`, contains: []string{link("https://example.com", "docs")}, absent: []string{"title"}},
		{name: "autolink angle", in: "<https://example.com/x>", contains: []string{link("https://example.com/x", "https://example.com/x")}},
		{name: "autolink bare", in: "see https://example.com/x.", contains: []string{link("https://example.com/x", "https://example.com/x") + "."}},
		{name: "autolink localhost port", in: "see http://x:8080/ now", contains: []string{link("http://x:8080/", "http://x:8080/")}},
		{name: "autolink www", in: "www.example.com", contains: []string{link("http://www.example.com", "www.example.com")}},
		{name: "email", in: "mail ops@example.com now", contains: []string{link("mailto:ops@example.com", "ops@example.com")}},
		{name: "email angle", in: "<ops@example.com>", contains: []string{link("mailto:ops@example.com", "ops@example.com")}},
		{name: "mailto link", in: "[write](mailto:ops@example.com)", contains: []string{link("mailto:ops@example.com", "write")}},
		{name: "relative link is text", in: "[x](/admin)", want: "<p>x</p>\n"},
		{name: "image becomes link", in: "![graph](https://example.com/g.png)", contains: []string{link("https://example.com/g.png", "graph")}, absent: []string{"<img"}},
		{name: "table", in: "| host | status |\n|:---|---:|\n| web1 | ok |", contains: []string{"<table>", `<th align="left">host</th>`, `<td align="right">ok</td>`}},
		{name: "md prefix table", in: "/md | a | b |\n|---|---|\n| 1 | 2 |", contains: []string{"<th>a</th>", "<td>2</td>"}, absent: []string{"/md"}},
		{name: "md prefix plain", in: "/md hello", want: "<p>hello</p>\n"},
		{name: "shortcodes", in: ":+1: :rocket: :smile: :white_check_mark:", contains: []string{"\U0001F44D \U0001F680 \U0001F604 \u2705"}},
		{name: "unknown shortcode", in: ":nope_not_an_emoji:", contains: []string{":nope_not_an_emoji:"}},
		{name: "emoticons", in: ":) :-) :( ;) :D :P <3 :/", contains: []string{"\U0001F642 \U0001F642 \U0001F641 \U0001F609 \U0001F603 \U0001F61B \u2764\uFE0F \U0001F615"}},
		{name: "emoticon end of sentence", in: "done :).", contains: []string{"done \U0001F642."}},
		{name: "no emoji in words or times", in: "C:D at 12:30:45 host:b:c", contains: []string{"C:D at 12:30:45 host:b:c"}},
		{name: "no emoji in code", in: "`:) :+1:` and\n```\n:)\n```", contains: []string{"<code>:) :+1:</code>", "<pre><code>:)\n</code></pre>"}},
		{name: "no emoji in URL", in: "http://x.com/a:b:c/:)x", contains: []string{`href="http://x.com/a:b:c/:)x"`}},
		{name: "emoji in emphasis", in: "*great :)*", contains: []string{"<em>great \U0001F642</em>"}},
		{name: "mention all present", in: "@all @PRESENT", contains: []string{mention("@all"), mention("@PRESENT")},
			mentions: []Mention{{Kind: MentionAll}, {Kind: MentionPresent}}},
		{name: "mention alias", in: "ping @jdoe, and (@mary.major).", contains: []string{mention("@jdoe") + ",", "(" + mention("@mary.major") + ")."},
			mentions: []Mention{{Kind: MentionUser, Ref: "jdoe"}, {Kind: MentionUser, Ref: "mary.major"}}},
		{name: "mention email form", in: "@alias@domain.com please", contains: []string{mention("@alias@domain.com")},
			mentions: []Mention{{Kind: MentionUser, Ref: "alias@domain.com"}}},
		{name: "mention dedupe", in: "@bob @bob @All @all", mentions: []Mention{{Kind: MentionUser, Ref: "bob"}, {Kind: MentionAll}}},
		{name: "email is not a mention", in: "marymajor@example.com", absent: []string{"mention"}},
		{name: "no mention in code", in: "`@All` and\n```\n@Present\n```", absent: []string{"mention"}},
		{name: "mention in emphasis", in: "**@All** look", contains: []string{"<strong>" + mention("@All") + "</strong>"}, mentions: []Mention{{Kind: MentionAll}}},
		{name: "lone at", in: "a @ b @. c", want: "<p>a @ b @. c</p>\n"},
		{name: "raw html escaped", in: "<b>x</b> <div>y</div>", contains: []string{"&lt;b&gt;x&lt;/b&gt; &lt;div&gt;y&lt;/div&gt;"}},
		{name: "html block escaped", in: "<div>\n<script>alert(1)</script>\n</div>", contains: []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{name: "entities", in: "AT&amp;T &copy; &#60;", contains: []string{"AT&amp;T © &lt;"}},
		{name: "escapes", in: `\*not bold\* \:)`, contains: []string{"*not bold* :)"}},
		{name: "crlf", in: "a\r\nb", want: "<p>a<br>\nb</p>\n"},
	})
}

func TestGChat(t *testing.T) {
	runCases(t, GChat, []renderCase{
		{name: "plain", in: "Build passed", want: "<p>Build passed</p>\n"},
		{name: "bold", in: "*Prod down*: now", want: "<p><strong>Prod down</strong>: now</p>\n"},
		{name: "italic", in: "_maybe_ later", want: "<p><em>maybe</em> later</p>\n"},
		{name: "strike", in: "~old~ new", want: "<p><del>old</del> new</p>\n"},
		{name: "nested", in: "*bold _and italic_*", want: "<p><strong>bold <em>and italic</em></strong></p>\n"},
		{name: "not emphasis inside words", in: "snake_case_name 2*3*4", want: "<p>snake_case_name 2*3*4</p>\n"},
		{name: "unclosed", in: "*not bold", want: "<p>*not bold</p>\n"},
		{name: "code", in: "run `*x*` ok", want: "<p>run <code>*x*</code> ok</p>\n"},
		{name: "block", in: "log:\n```\nline <1>\nline 2\n```\ndone", want: "<p>log:</p>\n<pre><code>line &lt;1&gt;\nline 2</code></pre>\n<p>done</p>\n"},
		{name: "inline block", in: "```a *b*```", want: "<pre><code>a *b*</code></pre>\n"},
		{name: "labelled link", in: "see <https://status.example.com|status page>", want: "<p>see " + link("https://status.example.com", "status page") + "</p>\n"},
		{name: "link", in: "<https://x.example.com/a>", want: "<p>" + link("https://x.example.com/a", "https://x.example.com/a") + "</p>\n"},
		{name: "bare url", in: "at https://x.example.com/run/42.", want: "<p>at " + link("https://x.example.com/run/42", "https://x.example.com/run/42") + ".</p>\n"},
		{name: "bare url parens", in: "(see http://x.com/a_(b))", want: "<p>(see " + link("http://x.com/a_(b)", "http://x.com/a_(b)") + ")</p>\n"},
		{name: "bare url port", in: "http://x:8080/ up", want: "<p>" + link("http://x:8080/", "http://x:8080/") + " up</p>\n"},
		{name: "email", in: "mail ops@example.com.", want: "<p>mail " + link("mailto:ops@example.com", "ops@example.com") + ".</p>\n"},
		{name: "mention all", in: "<users/all> *Prod down*", want: "<p>" + mention("@all") + " <strong>Prod down</strong></p>\n",
			mentions: []Mention{{Kind: MentionAll}}},
		{name: "mention user", in: "hi <users/114022495153014004089> and <users/all>", contains: []string{mention("@114022495153014004089")},
			mentions: []Mention{{Kind: MentionUser, Ref: "114022495153014004089"}, {Kind: MentionAll}}},
		{name: "emoji", in: "deployed :rocket: :+1: :)", want: "<p>deployed \U0001F680 \U0001F44D \U0001F642</p>\n"},
		{name: "bullets", in: "Status:\n* web ok\n- db *down*", want: "<p>Status:</p>\n<ul>\n<li>web ok</li>\n<li>db <strong>down</strong></li>\n</ul>\n"},
		{name: "literal angle", in: "a < b > c", want: "<p>a &lt; b &gt; c</p>\n"},
		{name: "unknown angle", in: "<b>x</b>", want: "<p>&lt;b&gt;x&lt;/b&gt;</p>\n"},
		{name: "entities literal", in: "&lt; &amp;", want: "<p>&amp;lt; &amp;amp;</p>\n"},
		{name: "no slack syntax", in: "<!here> <@U1>", want: "<p>&lt;!here&gt; &lt;@U1&gt;</p>\n"},
		{name: "no quote syntax", in: "> not a quote", want: "<p>&gt; not a quote</p>\n"},
		{name: "newlines", in: "a\nb\n\n\nc", want: "<p>a<br>\nb</p>\n<p>c</p>\n"},
		{name: "empty target", in: "<|> <|x> <>", want: "<p>&lt;|&gt; &lt;|x&gt; &lt;&gt;</p>\n"},
	})
}

func TestSlack(t *testing.T) {
	runCases(t, Slack, []renderCase{
		{name: "plain", in: "hello", want: "<p>hello</p>\n"},
		{name: "formatting", in: "*b* _i_ ~s~ `c`", want: "<p><strong>b</strong> <em>i</em> <del>s</del> <code>c</code></p>\n"},
		{name: "pre", in: "```\nstack <trace>\n```", want: "<pre><code>stack &lt;trace&gt;</code></pre>\n"},
		{name: "pre escaped", in: "```a &lt;b&gt; &amp;&amp; c```", want: "<pre><code>a &lt;b&gt; &amp;&amp; c</code></pre>\n"},
		{name: "quote", in: "> quoted *text*\n&gt; second\nafter", want: "<blockquote>\n<p>quoted <strong>text</strong><br>\nsecond</p>\n</blockquote>\n<p>after</p>\n"},
		{name: "multi quote", in: "intro\n>>> all\n\nof this", want: "<p>intro</p>\n<blockquote>\n<p>all</p>\n<p>of this</p>\n</blockquote>\n"},
		{name: "labelled link", in: "Build <https://ci.example.com/42|#42> *failed*", want: "<p>Build " + link("https://ci.example.com/42", "#42") + " <strong>failed</strong></p>\n"},
		{name: "link entities", in: "<https://x.com/?a=1&amp;b=2|a &amp; b>", want: "<p>" + link("https://x.com/?a=1&amp;b=2", "a &amp; b") + "</p>\n"},
		{name: "mailto", in: "<mailto:ops@example.com|ops>", want: "<p>" + link("mailto:ops@example.com", "ops") + "</p>\n"},
		{name: "bare url", in: "see https://example.com/x", want: "<p>see " + link("https://example.com/x", "https://example.com/x") + "</p>\n"},
		{name: "channel", in: "<!channel> deploy", want: "<p>" + mention("@channel") + " deploy</p>\n", mentions: []Mention{{Kind: MentionAll}}},
		{name: "everyone and here", in: "<!everyone> <!here> <!channel>", mentions: []Mention{{Kind: MentionAll}, {Kind: MentionPresent}}},
		{name: "here label", in: "<!here|here>", want: "<p>" + mention("@here") + "</p>\n", mentions: []Mention{{Kind: MentionPresent}}},
		{name: "user", in: "<@U123> and <@W456|jane>", want: "<p>" + mention("@U123") + " and " + mention("@jane") + "</p>\n",
			mentions: []Mention{{Kind: MentionUser, Ref: "U123"}, {Kind: MentionUser, Ref: "W456"}}},
		{name: "channel link", in: "in <#C024BE7LR|general>", want: "<p>in #general</p>\n"},
		{name: "subteam", in: "<!subteam^SAZ94GDB8|@oncall>", want: "<p>@oncall</p>\n"},
		{name: "date", in: "<!date^1392734382^{date}|Feb 18, 2014>", want: "<p>Feb 18, 2014</p>\n"},
		{name: "escapes are text", in: "&lt;b&gt;bold?&lt;/b&gt; a &amp;&amp; b &lt;!here&gt;", want: "<p>&lt;b&gt;bold?&lt;/b&gt; a &amp;&amp; b &lt;!here&gt;</p>\n"},
		{name: "other entities literal", in: "&quot;x&quot;", want: "<p>&amp;quot;x&amp;quot;</p>\n"},
		{name: "emoji", in: ":rotating_light: alert :-(", want: "<p>\U0001F6A8 alert \U0001F641</p>\n"},
		{name: "emoji not in code", in: "`:rocket:`", want: "<p><code>:rocket:</code></p>\n"},
		{name: "emoji not in url", in: "<http://x.com/:rocket:|go>", want: "<p>" + link("http://x.com/:rocket:", "go") + "</p>\n"},
		{name: "javascript link", in: "<javascript:alert(1)|click>", want: "<p>click</p>\n"},
		{name: "no bullets in slack", in: "* one", want: "<p>* one</p>\n"},
		{name: "empty target", in: "<|> <|x> <>", want: "<p>&lt;|&gt; &lt;|x&gt; &lt;&gt;</p>\n"},
	})
}

func TestFastPathMatchesPipeline(t *testing.T) {
	inputs := []string{
		"", " ", "\n\n", "hello", "hello world", "a\nb", "a\n\nb", "  a  \n  b  ", "a\n \nb",
		"Disk usage on db-primary-01 is at 91 percent (threshold 90 percent). Please investigate.",
		"quotes \"double\" and 'single' and 100% $5 {x} ^y? !z, (p) /path",
		"unicode héllo wörld 日本語 ✓", "line one\nline two\n\nline three\n",
		"   three leading spaces", "trailing  \nspace", "1 thing", "10 percent", "x=1, y=2",
	}
	for _, in := range inputs {
		if !isPlain(in) {
			t.Errorf("isPlain(%q) = false, want true", in)
			continue
		}
		fast := plainHTML(in)
		for _, f := range []Format{Markdown, GChat, Slack} {
			slow := testRenderer.renderSlow(f, in)
			if slow.HTML != fast || len(slow.Mentions) != 0 {
				t.Errorf("%s %q: fast %q, pipeline %q %v", f, in, fast, slow.HTML, slow.Mentions)
			}
		}
	}
	for _, in := range []string{
		"a *b*", "a_b", "~x", "`x`", "<x>", "a & b", "[x]", "a|b", "a:b", "a;b", "@x", "x\\y",
		"# h", "- item", "+ item", "* item", "1. item", "2) item", "> q", "a\n===", "    code",
		"\tcode", "www.example.com", "see WWW.EXAMPLE.COM", "• bullet", "a\rb", "0\n:-", "a\n :--: x",
	} {
		if isPlain(in) {
			t.Errorf("isPlain(%q) = true, want false", in)
		}
	}
}

// liteMismatch says how the lite path's result for in differs from the full renderer's
// with the sanitiser, or how the policy would change it (nil: neither).
func liteMismatch(f Format, in string) error {
	lite := testRenderer.Render(f, in)
	full := testRenderer.renderSlow(f, in)
	if !reflect.DeepEqual(lite, full) {
		return fmt.Errorf("%s %q:\nlite: %q %v\nfull: %q %v", f, in, lite.HTML, lite.Mentions, full.HTML, full.Mentions)
	}
	if again := testRenderer.policy.Sanitize(lite.HTML); again != lite.HTML {
		return fmt.Errorf("%s %q: the policy changes the lite output\nlite:      %q\nsanitised: %q", f, in, lite.HTML, again)
	}
	return nil
}

// The lite path of every format produces what the format's full renderer and the
// sanitiser produce (goldmark for Markdown, the chat converter for Google Chat and Slack).
func TestLitePathMatchesFullRenderer(t *testing.T) {
	inputs := []string{
		"Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present",
		benchLinkEmoji,
		"http://x.example", "(http://x.example/a(b)c)", "http://x.example/a?b=c;d", "http://x.example/:)",
		"see http://x.example/path. and http://x.example/p?!", "http://x:8080/ ok", "https://10.0.0.1:8080/x",
		"a@b.example", "a@b.example.", "a@b.example-x", "a@b", "x.y+z@a-b.example.org: hi", "(a@b.example)",
		":):)", ":) :( ;) :D :P :/ :O", "a:)", ":)a", ":rocket::+1:", ":+1:x", "x:+1:", "12:30:45", ":: :x:",
		"@bob", "@bob.", "@bob@x.example", "@bob@x", "a@bob", "(@bob)", "@@bob", "@.bob", "@All @all @ALL @Present",
		"@bob:)", ":)@bob", ":)http://x.example", "@bob http://x.example @carol",
		"line one :)\nline two @x\n\nline three http://x.example", "  lead :) \n  trail @x  ",
		"日本 :) 日本@bob 日本 http://x.example", "é@x.example", "http://x.example/é",
		"ftp://x.example mailto:x@y.example", "HTTP://X.EXAMPLE Http://x.example", "x;)", " ;) ", "(;)",
	}
	for _, in := range inputs {
		in = strings.ReplaceAll(in, `\n`, "\n")
		if classify(in) != classLite {
			t.Errorf("classify(%q) = %v, want lite", in, classify(in))
			continue
		}
		for _, f := range []Format{Markdown, GChat, Slack} {
			if err := liteMismatch(f, in); err != nil {
				t.Error(err)
			}
		}
	}
	// Block markup made of lite characters needs goldmark: a table delimiter row.
	for _, in := range []string{"0\n:-", "a\n:---:", "x\n  :-- ", "a @b\n:-"} {
		if c := classify(in); c != classFull {
			t.Errorf("classify(%q) = %v, want full", in, c)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	inputs := []struct {
		f Format
		s string
	}{
		{Markdown, "**x** :+1: http://a.example.com @bob"},
		{GChat, "*x* <users/all> <https://a.example.com|a>"},
		{Slack, "*x* <!here> <@U1> &lt;"},
		{Markdown, "plain text"},
	}
	want := make([]Result, len(inputs))
	for i, in := range inputs {
		want[i] = testRenderer.Render(in.f, in.s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				for i, in := range inputs {
					if got := testRenderer.Render(in.f, in.s); !reflect.DeepEqual(got, want[i]) {
						t.Errorf("concurrent Render(%s, %q) = %#v, want %#v", in.f, in.s, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestUnknownFormatIsMarkdown(t *testing.T) {
	got := testRenderer.Render(Format("other"), "**x**")
	if got.HTML != "<p><strong>x</strong></p>\n" {
		t.Errorf("got %q", got.HTML)
	}
}

func TestInvalidUTF8(t *testing.T) {
	for _, f := range []Format{Markdown, GChat, Slack} {
		for _, in := range []string{"a\xffb", "*\xfe*", "\x00x", "x\x00*y*"} {
			res := testRenderer.Render(f, in)
			if err := checkSafe(res.HTML); err != nil {
				t.Errorf("%s %q: %v (%q)", f, in, err, res.HTML)
			}
		}
	}
}

// TestLiteDifferential compares the lite path of every format with its full renderer on
// random text made of the characters the lite path accepts (a targeted complement to the
// fuzz targets, which rarely produce such text).
func TestLiteDifferential(t *testing.T) {
	pieces := []string{
		"a", "b", "Z", "0", "9", " ", " ", "  ", "\n", "\n\n", ":", ";", "@", ".", ",", "(", ")", "/", "-", "+",
		"=", "#", "!", "?", "'", "\"", "%", "$", "^", "{", "}", "é", "日", "http://", "https://", "HTTP://",
		"x.example", "a.b", "@a", "a@b.c", ":)", ":-(", ";)", ":D", ":+1:", ":rocket:", ":x", "mailto:",
		"@All", "@present", "ftp://", "\u00a0", "8080", "www",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	checked := 0
	for range n {
		var b strings.Builder
		for k := 1 + rng.IntN(12); k > 0; k-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := b.String()
		if classify(in) != classLite {
			continue
		}
		checked++
		for _, f := range []Format{Markdown, GChat, Slack} {
			if err := liteMismatch(f, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	if checked < n/4 {
		t.Fatalf("only %d lite inputs checked", checked)
	}
}

// The lite path writes emoji unescaped: every shortcode's and emoticon's emoji passes the
// policy unchanged and holds nothing HTML would read as markup.
func TestEmojiNeedNoEscaping(t *testing.T) {
	check := func(name, e string) {
		if strings.ContainsAny(e, "<>&\"'\x00") || !utf8.ValidString(e) {
			t.Fatalf("%s: emoji %q needs escaping", name, e)
		}
		if html := "<p>" + e + "</p>\n"; testRenderer.policy.Sanitize(html) != html {
			t.Fatalf("%s: the policy changes %q", name, html)
		}
	}
	for code, e := range shortcodes {
		check(code, e)
	}
	for _, em := range emoticons {
		check(em.text, em.emoji)
	}
}
