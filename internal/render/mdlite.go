package render

import (
	"strings"

	"github.com/yuin/goldmark/util"
)

// The "lite" Markdown path renders text whose only special content is bare links,
// e-mail addresses, emoji and mentions (no emphasis, code, brackets, HTML, entities,
// tables or block markup) without goldmark, which costs about as much as the sanitiser
// for short messages. It reproduces goldmark's behaviour for such text exactly (linkify's
// trigger positions and trimming rules, the emoji and mention parsers) and writes the
// sanitiser's output form directly, which the tests and fuzz targets check by comparing
// both paths and by passing its output through the policy.

// textClass is what a text needs: escaping only, the lite path, or the full renderer.
type textClass int

const (
	classPlain textClass = iota
	classLite
	classFull
)

// byteClass: 0 plain; 1 needs at least the lite path (':' ';' '@' start emoji,
// emoticons, mentions, and every bare URL or e-mail address contains ':' or '@');
// 2 needs the full renderer (markup characters, control characters).
var byteClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 2
	}
	t['\n'] = 0
	t[0x7f] = 2
	for _, c := range []byte("*_~`<>&[]\\|") {
		t[c] = 2
	}
	for _, c := range []byte(":;@") {
		t[c] = 1
	}
	return t
}()

// classify tells which path s needs. Line starts are checked for block markup (lists,
// headings, quotes, setext underlines, table delimiter rows, indented code, Google Chat
// bullets); "www." (bare links without a scheme) needs the full renderer.
func classify(s string) textClass {
	class := classPlain
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch byteClass[c] {
		case 2:
			return classFull
		case 1:
			class = classLite
		}
		if c == '\n' {
			lineStart = true
			continue
		}
		if lineStart {
			lineStart = false
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j == len(s) || s[j] == '\n' {
				i = j - 1 // blank line
				continue
			}
			if j-i >= 4 {
				return classFull // indented code
			}
			switch s[j] {
			case '-', '+', '=', '#', '>', '*', '_':
				return classFull
			case ':':
				if j+1 < len(s) && s[j+1] == '-' {
					return classFull // ":--" is a GFM table delimiter row, even without pipes
				}
			}
			if s[j] >= '0' && s[j] <= '9' {
				k := j
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				if k < len(s) && (s[k] == '.' || s[k] == ')') {
					return classFull // ordered list
				}
			}
			if strings.HasPrefix(s[j:], "•") {
				return classFull // Google Chat bullet
			}
			i = j - 1
			continue
		}
		if (c == 'w' || c == 'W') && hasPrefixFold(s[i:], "www.") {
			return classFull
		}
	}
	return class
}

// isPlain reports whether s renders as escaped text in every format: the fast path.
func isPlain(s string) bool { return classify(s) == classPlain }

// renderLite renders Markdown text of classLite into dst, as goldmark would.
func renderLite(dst *strings.Builder, s string) []Mention {
	var ms mentionSet
	inPara := false
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.Trim(line, " ")
		if line == "" {
			if inPara {
				dst.WriteString("</p>\n")
				inPara = false
			}
			continue
		}
		if inPara {
			dst.WriteString("<br>\n")
		} else {
			dst.WriteString("<p>")
			inPara = true
		}
		liteLine(dst, line, &ms)
	}
	if inPara {
		dst.WriteString("</p>\n")
	}
	return ms.list
}

// liteLine mirrors goldmark's inline loop (parser.parseBlock) for one line: inline
// parsers are tried at punctuation, at spaces, and at "line heads" (the start of the line
// and right after any inline node), where a non-punctuation character triggers the ' '
// parsers (linkify).
func liteLine(dst *strings.Builder, s string, ms *mentionSet) {
	start := 0
	head := true
	for i := 0; i < len(s); {
		c := s[i]
		isPunct := util.IsPunct(c)
		if isPunct || c == ' ' || head {
			trigger := c
			if c == ' ' || (head && !isPunct) {
				trigger = ' '
			}
			switch trigger {
			case ' ', '(':
				if lead, n, email := linkifyAt(s[i:]); n > 0 {
					writeEscaped(dst, s[start:i+lead])
					label := s[i+lead : i+lead+n]
					url := label
					if email && !hasPrefixFold(url, "mailto:") {
						url = "mailto:" + url
					}
					if href, ok := sanitisedHref(url); ok {
						writeLinkOpen(dst, href)
						writeEscaped(dst, label)
						dst.WriteString("</a>")
					} else {
						writeEscaped(dst, label)
					}
					i += lead + n
					start, head = i, true
					continue
				}
			case ':', ';':
				if e, n := matchEmoji(prevRune(s, i), s[i:]); n > 0 {
					writeEscaped(dst, s[start:i])
					dst.WriteString(e)
					i += n
					start, head = i, true
					continue
				}
			case '@':
				if mentionStart(prevRune(s, i)) {
					if m, n := matchMention(s[i:]); n > 0 {
						writeEscaped(dst, s[start:i])
						ms.add(m)
						writeMention(dst, s[i:i+n])
						i += n
						start, head = i, true
						continue
					}
				}
			}
		}
		head = false
		i++
	}
	writeEscaped(dst, s[start:])
}

// linkifyAt is goldmark's linkify parser (extension/linkify.go) for http, https and
// e-mail links, configured as in newMarkdown, on a string. line starts at the trigger
// position; lead is 1 if the trigger character (a space or '(') is not part of the link.
// It returns the link's length n (0: none) and whether it is an e-mail address.
func linkifyAt(line string) (lead, n int, email bool) {
	if c := line[0]; c == ' ' || c == '*' || c == '_' || c == '~' || c == '(' {
		lead = 1
		line = line[1:]
	}
	var m []int
	if strings.HasPrefix(line, "http:") || strings.HasPrefix(line, "https:") {
		// No character class of the pattern holds a space, so a match ends before the
		// first one; the shorter input keeps the backtracker's state small.
		word := line
		if sp := strings.IndexByte(word, ' '); sp >= 0 {
			word = word[:sp]
		}
		m = linkifyURL.FindStringSubmatchIndex(word)
	}
	if m != nil && m[0] != 0 {
		m = nil
	}
	if m == nil {
		if len(line) > 0 && util.IsPunct(line[0]) {
			return 0, 0, false
		}
		email = true
		stop := util.FindEmailIndex(util.StringToReadOnlyBytes(line))
		if stop < 0 {
			return 0, 0, false
		}
		at := strings.IndexByte(line, '@')
		m = []int{0, stop, at, stop - 1}
		if strings.IndexByte(line[m[2]:m[3]], '.') < 0 {
			return 0, 0, false
		}
		if line[m[1]-1] == '.' {
			m[1]--
		}
		if m[1] < len(line) {
			if next := line[m[1]]; next == '-' || next == '_' {
				return 0, 0, false
			}
		}
	}
	opening := strings.Count(line[:m[1]], "(")
	closing := strings.Count(line[:m[1]], ")")
	i := m[1]
trim:
	for i > 1 {
		switch line[i-1] {
		case '?', '!', '.', ',', ':', '*', '_', '~':
			i--
		case ')':
			if closing <= opening {
				break trim
			}
			closing--
			i--
		case ';':
			j := i - 2
			for ; j > 0; j-- {
				if util.IsAlphaNumeric(line[j]) {
					continue
				}
				break
			}
			if j == i-2 || line[j] != '&' {
				break trim
			}
			i = j
		default:
			break trim
		}
	}
	return lead, i, email
}
