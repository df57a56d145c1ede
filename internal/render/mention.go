package render

import (
	"strings"
	"unicode/utf8"
)

// mentionStart reports whether a Chime mention may start after rune r: at the start of
// the text, after white space or after punctuation that cannot be part of an e-mail
// address or a URL ("marymajor@example.com" is an address, not a mention).
func mentionStart(r rune) bool {
	if r == '\n' || r == utf8.RuneError {
		return true
	}
	if isWordRune(r) {
		return false
	}
	switch r {
	case '.', '_', '+', '-', '@', '/', '\\', ':', '=', '&', '%', '#', '$', '`', '\'':
		return false
	}
	return true
}

func isAliasByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '+'
}

// matchMention matches a Chime mention at the start of s (s[0] == '@'): "@All",
// "@Present" (any case), "@alias" or "@alias@domain.com". It returns the mention and the
// number of bytes it covers (0: not a mention). Trailing '.', '-' and '+' are not part
// of an alias ("ping @bob." mentions "bob").
func matchMention(s string) (Mention, int) {
	if len(s) < 2 || s[0] != '@' {
		return Mention{}, 0
	}
	i := 1
	for i < len(s) && i <= 128 && isAliasByte(s[i]) {
		i++
	}
	for i > 1 && (s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '+') {
		i--
	}
	if i == 1 {
		return Mention{}, 0
	}
	alias := s[1:i]
	if c := alias[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
		return Mention{}, 0
	}
	if i < len(s) && s[i] == '@' {
		if d := matchDomain(s[i+1:]); d > 0 {
			end := i + 1 + d
			return Mention{Kind: MentionUser, Ref: s[1:end]}, end
		}
	}
	// "@bob@" or "@bob_x@" followed by junk: still a mention of the alias.
	switch {
	case strings.EqualFold(alias, "all"):
		return Mention{Kind: MentionAll}, i
	case strings.EqualFold(alias, "present"):
		return Mention{Kind: MentionPresent}, i
	}
	return Mention{Kind: MentionUser, Ref: alias}, i
}

// mentionSet collects mentions in order of first appearance, without duplicates.
type mentionSet struct {
	list []Mention
}

func (s *mentionSet) add(m Mention) {
	for _, x := range s.list {
		if x == m {
			return
		}
	}
	s.list = append(s.list, m)
}
