package render

import (
	"unicode"
	"unicode/utf8"

	"github.com/kyokomi/emoji/v2"
)

// shortcodes maps ":name:" to its Unicode emoji (kyokomi/emoji, about 4.8k codes, the
// GitHub/Slack names included). The map is built once by the library and only read here.
var shortcodes = emoji.CodeMap()

// maxShortcode bounds the bytes scanned for a ":name:" candidate.
const maxShortcode = 64

// emoticons, longest first within a common prefix so that ":-)" wins over ":-".
var emoticons = []struct{ text, emoji string }{
	{":-)", "\U0001F642"}, {":)", "\U0001F642"}, // slightly smiling face
	{":-(", "\U0001F641"}, {":(", "\U0001F641"}, // slightly frowning face
	{";-)", "\U0001F609"}, {";)", "\U0001F609"}, // winking face
	{":-D", "\U0001F603"}, {":D", "\U0001F603"}, // grinning face with big eyes
	{":-P", "\U0001F61B"}, {":P", "\U0001F61B"}, {":-p", "\U0001F61B"}, {":p", "\U0001F61B"}, // face with tongue
	{":-O", "\U0001F62E"}, {":O", "\U0001F62E"}, {":-o", "\U0001F62E"}, {":o", "\U0001F62E"}, // face with open mouth
	{":-|", "\U0001F610"}, {":|", "\U0001F610"}, // neutral face
	{":-/", "\U0001F615"}, {":/", "\U0001F615"}, // confused face
	{":'(", "\U0001F622"},  // crying face
	{"</3", "\U0001F494"},  // broken heart
	{"<3", "\u2764\uFE0F"}, // red heart
}

// emoticonStart reports whether an emoticon may start at a position preceded by r
// (utf8.RuneError or '\n' for "start of text").
func emoticonStart(r rune) bool {
	switch r {
	case '\n', utf8.RuneError, '*', '_', '~', '(', '[', '{', '"', '\'':
		return true
	}
	return unicode.IsSpace(r)
}

// emoticonEnd reports whether an emoticon may end before s (the rest of the text).
func emoticonEnd(s string) bool {
	if s == "" {
		return true
	}
	switch s[0] {
	case '.', ',', '!', '?', '*', '_', '~', '"', '\'', ']', '}', '\n':
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// matchEmoticon returns the emoji for an emoticon at the start of s, and its length.
// prev is the rune before s. Emoticons must stand alone: "http://x:8080/" or "C:D"
// are left alone.
func matchEmoticon(prev rune, s string) (string, int) {
	if len(s) < 2 || !emoticonStart(prev) {
		return "", 0
	}
	for _, e := range emoticons {
		if len(s) >= len(e.text) && s[:len(e.text)] == e.text && emoticonEnd(s[len(e.text):]) {
			return e.emoji, len(e.text)
		}
	}
	return "", 0
}

// shortcodeStart reports whether a ":name:" shortcode may start after rune r: not inside
// a word or a number ("12:30:45", "host:b:c" stay text).
func shortcodeStart(r rune) bool {
	return !isWordRune(r)
}

// matchShortcode returns the emoji for a ":name:" shortcode at the start of s (s[0] == ':'),
// and its length.
func matchShortcode(prev rune, s string) (string, int) {
	if len(s) < 3 || s[0] != ':' || !shortcodeStart(prev) {
		return "", 0
	}
	lim := min(len(s), maxShortcode)
	for i := 1; i < lim; i++ {
		c := s[i]
		if c == ':' {
			if i == 1 {
				return "", 0
			}
			if e, ok := shortcodes[s[:i+1]]; ok {
				return e, i + 1
			}
			return "", 0
		}
		if c <= ' ' || c == '<' || c == '>' || c == '`' || c == '"' || c == '&' {
			return "", 0
		}
	}
	return "", 0
}

// matchEmoji tries a shortcode, then an emoticon, at the start of s.
func matchEmoji(prev rune, s string) (string, int) {
	if len(s) < 2 {
		return "", 0
	}
	if s[0] == ':' {
		if e, n := matchShortcode(prev, s); n > 0 {
			return e, n
		}
	}
	return matchEmoticon(prev, s)
}

// isWordRune: letters and digits (Unicode).
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
