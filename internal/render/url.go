package render

import (
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/util"
)

// hasPrefixFold reports whether s starts with prefix, ASCII case-insensitively
// (prefix must be lower case).
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains sub, ASCII case-insensitively (sub lower case).
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return true
		}
	}
	return false
}

// safeHref returns the href to use for a link target, escaped for a URL (not yet for
// HTML), and whether the target is allowed at all. Only absolute http, https and mailto
// URLs are; everything else (javascript:, data:, vbscript:, relative paths, ...) is not
// linked. Targets are already entity-decoded by the caller; any control character or
// whitespace inside makes the target invalid (browsers strip them, which is how
// "jav&#x09;ascript:" tricks work).
func safeHref(target string) (string, bool) {
	href, _, ok := safeHrefURL(target)
	return href, ok
}

// sanitisedHref is safeHref's href in the form the sanitiser writes it (net/url's
// serialisation of the parsed href: lower-case scheme, its own escaping), for paths that
// skip the sanitiser.
func sanitisedHref(target string) (string, bool) {
	_, u, ok := safeHrefURL(target)
	if !ok {
		return "", false
	}
	return u.String(), true
}

func safeHrefURL(target string) (string, *url.URL, bool) {
	target = strings.TrimSpace(target)
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return "", nil, false
		}
	}
	if !utf8.ValidString(target) {
		return "", nil, false
	}
	switch {
	case hasPrefixFold(target, "https://"):
		if len(target) == len("https://") {
			return "", nil, false
		}
	case hasPrefixFold(target, "http://"):
		if len(target) == len("http://") {
			return "", nil, false
		}
	case hasPrefixFold(target, "mailto:"):
		if len(target) == len("mailto:") {
			return "", nil, false
		}
	default:
		return "", nil, false
	}
	href := string(util.URLEscape([]byte(target), false))
	// The sanitiser drops hrefs that net/url cannot parse; never emit a link it would
	// reduce to an <a> without href.
	u, err := url.Parse(href)
	if err != nil || (u.Scheme != "mailto" && u.Host == "") || (u.Scheme == "mailto" && u.Opaque == "") {
		return "", nil, false
	}
	return href, u, true
}

// writeLinkOpen writes the opening tag of a link to an already URL-escaped href.
func writeLinkOpen(w io.StringWriter, href string) {
	_, _ = w.WriteString(`<a href="`)
	writeEscaped(w, href)
	_, _ = w.WriteString(`" rel="nofollow noopener" target="_blank">`)
}

// isURLBoundary reports whether a bare URL or e-mail address may start after rune r.
func isURLBoundary(r rune) bool {
	if r == '\n' || r == utf8.RuneError {
		return true
	}
	if isWordRune(r) {
		return false
	}
	switch r {
	case '/', '.', '@', ':', '-', '_', '%', '=', '&', '+', '#', '~', '$', '\\':
		return false
	}
	return true
}

// matchBareURL returns the length of a bare http(s):// or www. URL at the start of s
// (0 if none) and whether the "http://" prefix must be added to make it a link.
// Trailing punctuation and unbalanced closing brackets are left out, as in GFM.
func matchBareURL(s string) (int, bool) {
	var n int
	www := false
	switch {
	case hasPrefixFold(s, "https://"):
		n = len("https://")
	case hasPrefixFold(s, "http://"):
		n = len("http://")
	case hasPrefixFold(s, "www."):
		n = len("www.")
		www = true
	default:
		return 0, false
	}
	if n >= len(s) || !isHostByte(s[n]) {
		return 0, false
	}
	end := n
	for end < len(s) {
		c := s[end]
		if c <= ' ' || c == '<' || c == '>' || c == '"' || c == '`' || c == '|' || c == 0x7f {
			break
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[end:])
			if r == utf8.RuneError || isUnicodeSpace(r) {
				break
			}
			end += size
			continue
		}
		end++
	}
	// Trim trailing punctuation; keep a closing bracket only when balanced.
trim:
	for end > n {
		switch c := s[end-1]; c {
		case '.', ',', ':', ';', '!', '?', '\'', '*', '_', '~':
			end--
		case ')', ']', '}':
			open := "("
			if c == ']' {
				open = "["
			} else if c == '}' {
				open = "{"
			}
			if strings.Count(s[:end], open) >= strings.Count(s[:end], string(c)) {
				break trim
			}
			end--
		default:
			break trim
		}
	}
	if end <= n {
		return 0, false
	}
	return end, www
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '[' || c >= utf8.RuneSelf
}

func isLocalByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// matchDomain returns the length of a domain name ("example.com", at least one dot) at the
// start of s, or 0.
func matchDomain(s string) int {
	end, dots := 0, 0
	lastDot := -1
	for end < len(s) && end < 255 {
		c := s[end]
		if isLabelByte(c) {
			end++
			continue
		}
		if c == '.' && end > lastDot+1 && end+1 < len(s) && isLabelByte(s[end+1]) {
			lastDot = end
			dots++
			end++
			continue
		}
		break
	}
	for end > 0 && s[end-1] == '-' {
		end--
	}
	if dots == 0 || end <= lastDot+1 {
		return 0
	}
	return end
}

// matchEmail returns the length of an e-mail address at the start of s, or 0.
func matchEmail(s string) int {
	i := 0
	for i < len(s) && i < 64 && isLocalByte(s[i]) {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '@' {
		return 0
	}
	d := matchDomain(s[i+1:])
	if d == 0 {
		return 0
	}
	end := i + 1 + d
	if end < len(s) && (s[end] == '@' || s[end] == '_') {
		return 0
	}
	return end
}
