package render

import (
	"strings"
	"testing"
	"time"
)

// TestNoQuadraticBlowup renders inputs that were (or would be, without guardMarkdown and
// the linear scanning in chat.go) quadratic, at 8 KiB and at 64 KiB, and checks that the
// cost grows about linearly (8x the input: a quadratic cost would be 64x). Costs are the
// rendering thread's CPU time, so other load on the machine does not skew the ratio.
func TestNoQuadraticBlowup(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing test: skipped with -short and under the race detector (it runs with plain go test)")
	}
	patterns := []struct {
		f    Format
		unit string
	}{
		{Markdown, ">"}, {Markdown, "> "}, {Markdown, "+ "}, {Markdown, "1) "}, {Markdown, ">- "},
		{Markdown, "[a]("}, {Markdown, "](![[]@!"}, {Markdown, "~[^](:"},
		{Markdown, "~***a"}, {Markdown, "* ~~"}, {Markdown, "|-\\```"}, {Markdown, "www._~~"},
		{Markdown, "[a]: b\n"}, {Markdown, "["},
		{GChat, "<"}, {Slack, "<"}, {GChat, "<a"}, {Slack, "<@"}, {Slack, "<!"}, {GChat, ";<[<!"},
		{Slack, "*a "}, {GChat, "_a "}, {Slack, "`"}, {GChat, "*_~"}, {Slack, "&lt;"},
	}
	// measure returns the CPU cost of one render: the thread's CPU clock advances in
	// scheduler ticks (milliseconds), so renders are repeated until the total is well
	// above a tick, and the best of two such runs counts.
	measure := func(f Format, s string) time.Duration {
		best := time.Duration(1 << 62)
		for range 2 {
			reps := 1
			for {
				used := cpuTime(func() {
					for range reps {
						testRenderer.Render(f, s)
					}
				})
				if used >= 20*time.Millisecond || reps >= 1<<12 {
					best = min(best, used/time.Duration(reps))
					break
				}
				reps *= 2
			}
		}
		return best
	}
	for _, p := range patterns {
		small := strings.Repeat(p.unit, 8<<10/len(p.unit))
		large := strings.Repeat(p.unit, 64<<10/len(p.unit)-1)
		ts, tl := measure(p.f, small), measure(p.f, large)
		if tl > 24*ts+time.Millisecond {
			t.Errorf("%s %q: 8 KiB in %v, 64 KiB in %v: superlinear", p.f, p.unit, ts, tl)
		}
	}
}

func TestGuardMarkdown(t *testing.T) {
	deep := strings.Repeat("> ", 20) + "x"
	g := guardMarkdown(deep)
	if !strings.Contains(g, strings.Repeat("> ", 16)+"\\>") {
		t.Errorf("nesting not limited: %q", g)
	}
	if res := testRenderer.Render(Markdown, deep); strings.Count(res.HTML, "<blockquote>") != 16 {
		t.Errorf("want 16 nested quotes: %q", res.HTML)
	}
	ordinary := []string{
		"> a\n> > b\n- c\n  - d\n1. e",
		"[a](http://x.example) [b](http://y.example)",
		"*a* _b_ ~~c~~ `d`",
		benchTable,
	}
	for _, s := range ordinary {
		if g := guardMarkdown(s); g != s {
			t.Errorf("guardMarkdown changed ordinary text %q to %q", s, g)
		}
	}
	links := strings.Repeat("[a](", 40)
	if g := guardMarkdown(links); strings.Count(g, "]\\(") != 40-maxLinkOpeners {
		t.Errorf("link openers: %q", g)
	}
	delims := strings.Repeat("*a ", maxDelimRuns+3)
	if g := guardMarkdown(delims); strings.Count(g, "\\*") != 3 {
		t.Errorf("delimiters: %d escaped", strings.Count(g, "\\*"))
	}
	// A blank line starts a new block.
	twoBlocks := strings.Repeat("*a ", maxDelimRuns) + "\n\n" + strings.Repeat("*a ", maxDelimRuns)
	if g := guardMarkdown(twoBlocks); g != twoBlocks {
		t.Errorf("delimiters counted across blocks")
	}
}

func TestMaxMarkupBytes(t *testing.T) {
	big := "**bold** " + strings.Repeat("x", MaxMarkupBytes)
	res := testRenderer.Render(Markdown, big)
	if !strings.HasPrefix(res.HTML, "<p>**bold** xxx") {
		t.Errorf("large Markdown not rendered as plain text: %.60q", res.HTML)
	}
	res = testRenderer.Render(Slack, "*bold* "+strings.Repeat("x", MaxMarkupBytes))
	if !strings.HasPrefix(res.HTML, "<p><strong>bold</strong>") {
		t.Errorf("Slack is not limited by MaxMarkupBytes: %.60q", res.HTML)
	}
}
