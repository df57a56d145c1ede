package render

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are shared by the three fuzz targets (plus testdata/fuzz/<Name>/ files).
var fuzzSeeds = []string{
	"",
	"plain alert text",
	"Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present",
	"/md | host | status |\n|---|---|\n| web1 | ok |",
	"*bold* _it_ ~st~ `code` ```block``` <https://x.example|label> <users/all> <users/123>",
	"<!channel> <!here> <!everyone> <@U123|bob> &lt;b&gt; &amp; > quote\n>>> multi",
	"**a *b _c_ b* a** ~~d~~ [l](http://x.example) ![i](http://x.example/i.png)",
	"- a\n- b\n\n1. c\n2. d\n\n> q\n\n    code\n\n# h",
	"a\r\nb\rc\x00d\xff",
	"http://x:8080/ www.example.com ops@example.com @alias@domain.com :rocket: <3 </3 ;)",
	"*_~`<>&[]|:;@!#",
	"ping @bob: build http://ci.example.com/42 (see https://x.example/a_(b)) :+1: ;) mail a.b@c.example. @All",
	"(http://x.example) :):) @a@b.example@c x@y.example- http://x.example/;:!?. :-) @Present.",
}

func fuzzRender(f *testing.F, format Format) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, s := range xssVectors {
		f.Add(s)
	}
	r := New()
	f.Fuzz(func(t *testing.T, in string) {
		res := r.Render(format, in)
		if !utf8.ValidString(res.HTML) {
			t.Fatalf("invalid UTF-8 output for %q: %q", in, res.HTML)
		}
		if err := checkSafe(res.HTML); err != nil {
			t.Fatalf("unsafe output for %q: %v\n%q", in, err, res.HTML)
		}
		for _, m := range res.Mentions {
			switch m.Kind {
			case MentionAll, MentionPresent:
				if m.Ref != "" {
					t.Fatalf("%q: %v mention with ref %q", in, m.Kind, m.Ref)
				}
			case MentionUser:
				if m.Ref == "" || !utf8.ValidString(m.Ref) {
					t.Fatalf("%q: user mention with ref %q", in, m.Ref)
				}
			default:
				t.Fatalf("%q: mention kind %q", in, m.Kind)
			}
		}
		// The fast path must produce exactly what the full pipeline produces.
		n := normalize(in)
		if format == Markdown {
			n = stripMDPrefix(n)
		}
		switch classify(n) {
		case classPlain:
			slow := r.renderSlow(format, n)
			if slow.HTML != res.HTML || len(slow.Mentions) != 0 {
				t.Fatalf("fast path differs for %q:\nfast: %q\nslow: %q %v", in, res.HTML, slow.HTML, slow.Mentions)
			}
		case classLite:
			// The lite path must produce exactly what the full renderer produces, and (as it
			// skips the sanitiser) what the policy leaves unchanged.
			slow := r.renderSlow(format, n)
			if !reflect.DeepEqual(slow, res) {
				t.Fatalf("lite path differs for %q:\nlite: %q %v\nfull: %q %v", in, res.HTML, res.Mentions, slow.HTML, slow.Mentions)
			}
			if again := r.policy.Sanitize(res.HTML); again != res.HTML {
				t.Fatalf("the policy changes the lite output of %q:\nlite:      %q\nsanitised: %q", in, res.HTML, again)
			}
		}
	})
}

func FuzzRenderMarkdown(f *testing.F) { fuzzRender(f, Markdown) }
func FuzzRenderGChat(f *testing.F)    { fuzzRender(f, GChat) }
func FuzzRenderSlack(f *testing.F)    { fuzzRender(f, Slack) }
