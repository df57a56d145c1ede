package render

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// chatConv converts Google Chat and Slack markup to HTML. Both share one syntax for
// *bold*, _italic_, ~strike~, `code`, ```blocks``` and <url|label>; they differ in
// mentions (<users/all> versus <!channel> and <@U123>), in Slack's entity escaping
// (&lt; &gt; &amp; are text) and in block syntax (Slack > quotes, Google Chat bullets).
//
// The output uses the same shapes as the Markdown renderer: paragraphs of lines joined
// by <br>, <pre><code> blocks, <blockquote>, <ul>.
type chatConv struct {
	out   *bytes.Buffer
	slack bool
	ms    mentionSet
	// sanitised writes links' hrefs in the form the sanitiser writes them, for output
	// that does not pass through it.
	sanitised bool
}

// href returns the href for a link target, and whether the target may be linked.
func (c *chatConv) href(target string) (string, bool) {
	if c.sanitised {
		return sanitisedHref(target)
	}
	return safeHref(target)
}

// maxInlineDepth bounds nesting of *_~ spans.
const maxInlineDepth = 8

func (c *chatConv) convert(text string) {
	for text != "" {
		i := strings.Index(text, "```")
		if i < 0 {
			c.blocks(text)
			return
		}
		j := strings.Index(text[i+3:], "```")
		if j < 0 {
			c.blocks(text)
			return
		}
		c.blocks(text[:i])
		c.pre(text[i+3 : i+3+j])
		text = text[i+3+j+3:]
	}
}

// pre writes a code block. One newline right after the opening fence and one right
// before the closing fence are not part of the code.
func (c *chatConv) pre(code string) {
	code = strings.TrimPrefix(code, "\n")
	code = strings.TrimSuffix(code, "\n")
	c.out.WriteString("<pre><code>")
	c.text(code)
	c.out.WriteString("</code></pre>\n")
}

type lineKind int

const (
	lineBlank lineKind = iota
	lineText
	lineQuote
	lineItem
)

// classifyLine returns the kind of a line and its content (markers and surrounding
// spaces removed).
func (c *chatConv) classifyLine(line string, inMultiQuote bool) (lineKind, string, bool) {
	line = strings.Trim(line, " \t")
	if inMultiQuote {
		if line == "" {
			return lineBlank, "", true
		}
		return lineQuote, line, true
	}
	if line == "" {
		return lineBlank, "", false
	}
	if c.slack {
		for _, mark := range [...]string{">>>", "&gt;&gt;&gt;"} {
			if strings.HasPrefix(line, mark) {
				return lineQuote, strings.TrimLeft(line[len(mark):], " \t"), true
			}
		}
		for _, mark := range [...]string{">", "&gt;"} {
			if strings.HasPrefix(line, mark) {
				return lineQuote, strings.TrimLeft(line[len(mark):], " \t"), false
			}
		}
		return lineText, line, false
	}
	for _, mark := range [...]string{"* ", "- ", "• "} {
		if strings.HasPrefix(line, mark) {
			return lineItem, strings.TrimLeft(line[len(mark):], " \t"), false
		}
	}
	return lineText, line, false
}

// blocks renders text without code fences: paragraphs, quotes and lists.
func (c *chatConv) blocks(text string) {
	const (
		none = iota
		para
		quote
		list
	)
	state := none
	quotePara := false // a <p> is open inside the <blockquote>
	multi := false     // Slack ">>>": the rest is quoted
	closeState := func() {
		switch state {
		case para:
			c.out.WriteString("</p>\n")
		case quote:
			if quotePara {
				c.out.WriteString("</p>\n")
			}
			c.out.WriteString("</blockquote>\n")
		case list:
			c.out.WriteString("</ul>\n")
		}
		state = none
		quotePara = false
	}
	for text != "" {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		kind, content, m := c.classifyLine(line, multi)
		if m && !multi {
			multi = true
			if state != quote {
				closeState()
			}
		}
		switch kind {
		case lineBlank:
			if state == quote && multi {
				if quotePara {
					c.out.WriteString("</p>\n")
					quotePara = false
				}
				continue
			}
			closeState()
		case lineText:
			if state == para {
				c.out.WriteString("<br>\n")
			} else {
				closeState()
				c.out.WriteString("<p>")
				state = para
			}
			c.line(content)
		case lineQuote:
			if state != quote {
				closeState()
				c.out.WriteString("<blockquote>\n")
				state = quote
			}
			if content == "" {
				if quotePara {
					c.out.WriteString("</p>\n")
					quotePara = false
				}
				continue
			}
			if quotePara {
				c.out.WriteString("<br>\n")
			} else {
				c.out.WriteString("<p>")
				quotePara = true
			}
			c.line(content)
		case lineItem:
			if state != list {
				closeState()
				c.out.WriteString("<ul>\n")
				state = list
			}
			c.out.WriteString("<li>")
			c.line(content)
			c.out.WriteString("</li>\n")
		}
	}
	closeState()
}

// line renders the inline markup of one line.
func (c *chatConv) line(s string) {
	c.inline(s, 0, true)
}

type noCloser [3][2]int

func isAlnumByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func delimIndex(d byte) int {
	switch d {
	case '*':
		return 0
	case '_':
		return 1
	}
	return 2
}

func delimTag(d byte) (string, string) {
	switch d {
	case '*':
		return "<strong>", "</strong>"
	case '_':
		return "<em>", "</em>"
	}
	return "<del>", "</del>"
}

// prevRune returns the rune before s[i], or '\n' at the start.
func prevRune(s string, i int) rune {
	if i == 0 {
		return '\n'
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

// inline renders s (one line, or part of one). links is false inside a link label:
// no links or mentions there.
func (c *chatConv) inline(s string, depth int, links bool) {
	hasAt := links && strings.IndexByte(s, '@') >= 0
	hasURL := links && (strings.Contains(s, "://") || containsFold(s, "www."))
	// Positions from which a search found no closing delimiter (per delimiter and run
	// length), so that a line full of unmatched delimiters is scanned in linear time.
	nc := noCloser{{-1, -1}, {-1, -1}, {-1, -1}}
	start := 0
	for i := 0; i < len(s); {
		ch := s[i]
		switch ch {
		case '`':
			if j := strings.IndexByte(s[i+1:], '`'); j > 0 {
				c.text(s[start:i])
				c.out.WriteString("<code>")
				c.text(s[i+1 : i+1+j])
				c.out.WriteString("</code>")
				i += j + 2
				start = i
				continue
			}
		case '*', '_', '~':
			if depth < maxInlineDepth {
				if n, dl := c.emphasis(s, i, &nc); n > 0 {
					c.text(s[start:i])
					open, close := delimTag(ch)
					c.out.WriteString(open)
					c.inline(s[i+dl:i+n-dl], depth+1, links)
					c.out.WriteString(close)
					i += n
					start = i
					continue
				}
			}
		case '<':
			// Flush the pending text first (angle writes its output directly). A text
			// boundary before '<' is harmless, even for Slack entities, which contain
			// no '<'; flushing here rather than undoing keeps long runs of '<' linear.
			c.text(s[start:i])
			start = i
			if n := c.angle(s[i:], depth, links); n > 0 {
				i += n
				start = i
				continue
			}
		case ':', ';':
			if e, n := matchEmoji(prevRune(s, i), s[i:]); n > 0 {
				c.text(s[start:i])
				c.out.WriteString(e)
				i += n
				start = i
				continue
			}
		}
		if hasURL && (ch == 'h' || ch == 'H' || ch == 'w' || ch == 'W') && isURLBoundary(prevRune(s, i)) {
			if n, www := matchBareURL(s[i:]); n > 0 {
				c.text(s[start:i])
				c.bareLink(s[i:i+n], www)
				i += n
				start = i
				continue
			}
		}
		if hasAt && isAlnumByte(ch) && isURLBoundary(prevRune(s, i)) {
			if n := matchEmail(s[i:]); n > 0 {
				c.text(s[start:i])
				addr := c.decode(s[i : i+n])
				if href, ok := c.href("mailto:" + addr); ok {
					writeLinkOpen(c.out, href)
					writeEscaped(c.out, addr)
					c.out.WriteString("</a>")
				} else {
					writeEscaped(c.out, addr)
				}
				i += n
				start = i
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	c.text(s[start:])
}

// emphasis checks for a *bold*, _italic_ or ~strike~ span opening at s[i]. It returns the
// span's length including delimiters and the delimiter length (1, or 2 for "**x**").
func (c *chatConv) emphasis(s string, i int, nc *noCloser) (int, int) {
	d := s[i]
	if isWordRune(prevRune(s, i)) {
		return 0, 0 // snake_case, 2*3*4
	}
	dl := 1
	if i+1 < len(s) && s[i+1] == d {
		dl = 2
		if i+2 < len(s) && s[i+2] == d {
			return 0, 0
		}
	}
	first := i + dl
	if first >= len(s) || s[first] == ' ' || s[first] == '\t' {
		return 0, 0
	}
	memo := &nc[delimIndex(d)][dl-1]
	if *memo >= 0 && first >= *memo {
		return 0, 0
	}
	j := findCloser(s, first, d, dl)
	if j < 0 {
		if *memo < 0 || first < *memo {
			*memo = first
		}
		return 0, 0
	}
	return j + dl - i, dl
}

// findCloser finds a closing delimiter run for d of length dl at or after from+1
// (content must not be empty), skipping code spans, <...> and bare URLs.
func findCloser(s string, from int, d byte, dl int) int {
	for j := from; j < len(s); {
		ch := s[j]
		switch {
		case ch == '`':
			if k := strings.IndexByte(s[j+1:], '`'); k > 0 {
				j += k + 2
				continue
			}
		case ch == '<':
			if k := strings.IndexAny(s[j+1:], "<>"); k >= 0 && s[j+1+k] == '>' {
				j += k + 2
				continue
			}
		case (ch == 'h' || ch == 'H') && isURLBoundary(prevRune(s, j)):
			if n, _ := matchBareURL(s[j:]); n > 0 {
				j += n
				continue
			}
		case ch == d && j > from:
			if s[j-1] != ' ' && s[j-1] != '\t' && j+dl <= len(s) && (dl == 1 || s[j+1] == d) {
				after := j + dl
				if after == len(s) {
					return j
				}
				if r, _ := utf8.DecodeRuneInString(s[after:]); r != rune(d) && !isWordRune(r) {
					return j
				}
			}
		}
		j++
	}
	return -1
}

// angle handles "<...>" at the start of s: links, mentions, Slack specials. It returns
// the length consumed; it writes nothing when it returns 0.
func (c *chatConv) angle(s string, depth int, links bool) int {
	k := strings.IndexAny(s[1:], "<>")
	if k <= 0 || s[1+k] != '>' {
		return 0
	}
	inner := s[1 : 1+k]
	n := k + 2
	if inner[0] == ' ' || inner[0] == '\t' {
		return 0
	}
	target, label, hasLabel := strings.Cut(inner, "|")
	if target == "" {
		return 0 // "<|x>"
	}
	if c.slack {
		switch target[0] {
		case '!':
			return c.slackSpecial(target[1:], label, hasLabel, links, n)
		case '@':
			id := target[1:]
			if !links || !validID(id) {
				return 0
			}
			c.ms.add(Mention{Kind: MentionUser, Ref: id})
			display := id
			if hasLabel && label != "" {
				display = strings.TrimPrefix(c.decode(label), "@")
			}
			writeMention(c.out, "@"+display)
			return n
		case '#':
			display := target[1:]
			if hasLabel && label != "" {
				display = c.decode(label)
			}
			writeEscaped(c.out, "#"+display)
			return n
		}
	} else if strings.HasPrefix(target, "users/") {
		id := target[len("users/"):]
		if !links || !validID(id) {
			return 0
		}
		display := id
		if id == "all" {
			c.ms.add(Mention{Kind: MentionAll})
		} else {
			c.ms.add(Mention{Kind: MentionUser, Ref: id})
		}
		if hasLabel && label != "" {
			display = strings.TrimPrefix(label, "@")
		}
		writeMention(c.out, "@"+display)
		return n
	}
	// A link: <url> or <url|label>.
	if !links || !looksLikeURL(target) {
		return 0
	}
	href, ok := c.href(c.decode(target))
	if ok {
		writeLinkOpen(c.out, href)
	}
	if hasLabel && strings.TrimSpace(label) != "" {
		c.inline(label, depth+1, false)
	} else {
		c.text(strings.TrimPrefix(target, "mailto:"))
	}
	if ok {
		c.out.WriteString("</a>")
	}
	return n
}

// slackSpecial handles <!channel>, <!here>, <!everyone> (mentions) and the other
// <!...> commands (<!subteam^ID|@team>, <!date^...|fallback>), shown as their label.
func (c *chatConv) slackSpecial(cmd, label string, hasLabel, links bool, n int) int {
	name := cmd
	if i := strings.IndexByte(name, '^'); i >= 0 {
		name = name[:i]
	}
	var kind MentionKind
	switch name {
	case "channel", "everyone":
		kind = MentionAll
	case "here":
		kind = MentionPresent
	}
	if kind != "" && links && name == cmd {
		c.ms.add(Mention{Kind: kind})
		writeMention(c.out, "@"+name)
		return n
	}
	if hasLabel && label != "" {
		c.text(label)
		return n
	}
	if !validID(cmd) {
		return 0
	}
	writeEscaped(c.out, "@"+name)
	return n
}

// looksLikeURL: "<scheme:...>" with a plausible scheme, so that "<b>" or "a <x> b" stay
// text while "<javascript:...|x>" is recognised (and then not linked).
func looksLikeURL(t string) bool {
	i := strings.IndexByte(t, ':')
	if i <= 0 || i > 32 {
		return hasPrefixFold(t, "www.")
	}
	for j := 0; j < i; j++ {
		ch := t[j]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || j > 0 && (ch >= '0' && ch <= '9' || ch == '+' || ch == '-' || ch == '.')) {
			return false
		}
	}
	return i+1 < len(t)
}

// validID: a user id or similar token: no spaces or markup characters.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if ch <= ' ' || ch == '<' || ch == '>' || ch == '"' || ch == '\'' || ch == '&' || ch == '`' || ch == 0x7f {
			return false
		}
	}
	return true
}

// bareLink writes a bare URL found in text as a link.
func (c *chatConv) bareLink(raw string, www bool) {
	u := c.decode(raw)
	target := u
	if www {
		target = "http://" + u
	}
	if href, ok := c.href(target); ok {
		writeLinkOpen(c.out, href)
		writeEscaped(c.out, u)
		c.out.WriteString("</a>")
		return
	}
	writeEscaped(c.out, u)
}

// decode undoes Slack's escaping (&lt; &gt; &amp;); other formats are literal.
func (c *chatConv) decode(s string) string {
	if !c.slack || strings.IndexByte(s, '&') < 0 {
		return s
	}
	return slackUnescaper.Replace(s)
}

var slackUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// text writes literal text, HTML-escaped (after Slack unescaping).
func (c *chatConv) text(s string) {
	if s == "" {
		return
	}
	writeEscaped(c.out, c.decode(s))
}
