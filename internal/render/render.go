// Package render converts message text written in one of the supported markups (Markdown,
// Google Chat, Slack mrkdwn) to one sanitised HTML form, and extracts the mentions it
// contains.
//
// Every result of text with markup passes through a single bluemonday allow-list policy.
// Plain text (no character that could start markup, a link, an emoji or a mention) takes
// a fast path that only escapes it; text whose only special content is emoji, mentions
// and bare links takes a lite path that writes only what the policy keeps unchanged (the
// tests hold both to the full renderer's sanitised output).
package render

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
)

// Format is the markup a message text is written in.
type Format string

const (
	// Markdown is CommonMark + GFM (tables, strikethrough, autolinks), as used by
	// Chime, Mattermost and the REST API.
	Markdown Format = "markdown"
	// GChat is Google Chat markup: *bold* _italic_ ~strike~ `code` ```block```
	// <url|label> <users/all> <users/{id}>.
	GChat Format = "gchat"
	// Slack is Slack mrkdwn: *bold* _italic_ ~strike~ `code` ```block``` > quote,
	// <url|text>, <!channel> <!here> <!everyone> <@U123>, &lt; &gt; &amp; escapes.
	Slack Format = "slack"
)

// MentionKind tells who a mention addresses.
type MentionKind string

const (
	MentionAll     MentionKind = "all"     // everyone in the room
	MentionPresent MentionKind = "present" // the members present when the message is posted
	MentionUser    MentionKind = "user"    // one member, named by Ref
)

// Mention is a mention as written; the caller resolves Ref against room members (by user
// id, alias or e-mail).
type Mention struct {
	Kind MentionKind
	// Ref is empty for all/present; for user: the id/alias/email as written (without
	// '@' / '<@' '>').
	Ref string
}

// Result is rendered text: sanitised HTML and the mentions found, in order of first
// appearance and without duplicates.
type Result struct {
	HTML     string
	Mentions []Mention
}

// Renderer renders message text. It is safe for concurrent use; build one and share it.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// New builds a Renderer (goldmark instance and sanitising policy).
func New() *Renderer {
	return &Renderer{md: newMarkdown(), policy: newPolicy()}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// Render converts text written in format f to sanitised HTML and extracts its mentions.
// An unknown format is rendered as Markdown. For Markdown, a leading "/md " (Chime's
// "force Markdown" prefix) is removed, and text over MaxMarkupBytes is rendered as plain
// text.
func (r *Renderer) Render(f Format, text string) Result {
	text = normalize(text)
	if f != GChat && f != Slack {
		text = stripMDPrefix(text)
	}
	class := classify(text)
	if class != classPlain && f != GChat && f != Slack && len(text) > MaxMarkupBytes {
		class = classPlain // see MaxMarkupBytes
	}
	switch class {
	case classPlain:
		return Result{HTML: plainHTML(text)}
	case classLite:
		// Lite text holds no markup character, so its HTML is only escaped text, emoji,
		// <p>, <br>, mention spans and links to safe hrefs with the policy's rel and target:
		// what the policy keeps unchanged once the hrefs are written as the sanitiser writes
		// them. Like the plain path, it skips the sanitiser, which was most of the cost of a
		// short message. The tests check the output against the full renderer's sanitised
		// output and that the policy leaves it unchanged.
		if f == GChat || f == Slack {
			raw := getBuf()
			defer putBuf(raw)
			c := chatConv{out: raw, slack: f == Slack, sanitised: true}
			c.convert(text)
			return Result{HTML: raw.String(), Mentions: c.ms.list}
		}
		var b strings.Builder
		b.Grow(len(text) + len(text)/2 + 64)
		mentions := renderLite(&b, text)
		return Result{HTML: b.String(), Mentions: mentions}
	}
	return r.renderSlow(f, text)
}

// renderSlow renders with the full renderer of the format (no fast or lite path).
func (r *Renderer) renderSlow(f Format, text string) Result {
	raw := getBuf()
	defer putBuf(raw)
	var mentions []Mention
	switch f {
	case GChat, Slack:
		c := chatConv{out: raw, slack: f == Slack}
		c.convert(text)
		mentions = c.ms.list
	default:
		mentions = r.renderMarkdown(raw, []byte(guardMarkdown(text)))
	}
	return r.sanitize(raw, text, mentions)
}

// sanitize passes rendered HTML through the policy.
func (r *Renderer) sanitize(raw *bytes.Buffer, text string, mentions []Mention) Result {
	out := getBuf()
	defer putBuf(out)
	if err := r.policy.SanitizeReaderToWriter(bytes.NewReader(raw.Bytes()), out); err != nil {
		// Not expected (the input is in memory); fall back to escaped text.
		out.Reset()
		writePlain(out, text)
	}
	return Result{HTML: out.String(), Mentions: mentions}
}

// normalize makes text valid UTF-8 and turns CR LF and lone CR into LF and NUL into
// U+FFFD, so that every later stage sees the same lines.
func normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// stripMDPrefix removes Chime's "/md " prefix (also "/md" followed by a newline).
func stripMDPrefix(s string) string {
	if len(s) >= 4 && s[0] == '/' && s[1] == 'm' && s[2] == 'd' && (s[3] == ' ' || s[3] == '\n') {
		return s[4:]
	}
	if s == "/md" {
		return ""
	}
	return s
}

// plainHTML renders plain text: escaped, lines joined by <br>, blank lines separating
// paragraphs; the same HTML the full pipeline produces for such text.
func plainHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8 + 16)
	writePlain(&b, s)
	return b.String()
}

func writePlain(w io.StringWriter, s string) {
	inPara := false
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.Trim(line, " \t")
		if line == "" {
			if inPara {
				_, _ = w.WriteString("</p>\n")
				inPara = false
			}
			continue
		}
		if inPara {
			_, _ = w.WriteString("<br>\n")
		} else {
			_, _ = w.WriteString("<p>")
			inPara = true
		}
		writeEscaped(w, line)
	}
	if inPara {
		_, _ = w.WriteString("</p>\n")
	}
}

// writeEscaped writes s HTML-escaped the way the sanitiser (golang.org/x/net/html)
// serialises text: & ' < > " become &amp; &#39; &lt; &gt; &#34;.
func writeEscaped(w io.StringWriter, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '\'':
			esc = "&#39;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		default:
			continue
		}
		_, _ = w.WriteString(s[last:i])
		_, _ = w.WriteString(esc)
		last = i + 1
	}
	_, _ = w.WriteString(s[last:])
}

func writeMention(w io.StringWriter, text string) {
	_, _ = w.WriteString(`<span class="mention">`)
	writeEscaped(w, text)
	_, _ = w.WriteString(`</span>`)
}

func isUnicodeSpace(r rune) bool { return unicode.IsSpace(r) }
