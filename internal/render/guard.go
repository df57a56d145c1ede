package render

import (
	"slices"
	"strings"
)

// goldmark has inputs on which it is quadratic: containers nested on one line ("> > > >
// ...", "- - - - ...", "1) 1) 1) ..."), long runs without white space full of "](" (each
// one scans the rest of the run for a link destination), paragraphs full of unmatched
// emphasis delimiters (each closer scans back over all openers) or unmatched backtick
// runs (each scans forward for its closer), or link reference definitions (each one
// removed from its paragraph copies the remaining lines). A few hundred bytes of any are harmless; 64
// KiB take seconds. Before parsing, guardMarkdown escapes the markers beyond a sane depth
// or count with a backslash, which CommonMark turns back into the literal character.
// Only absurd input is changed (inside code, the added backslashes show).
const (
	// MaxMarkupBytes is the largest Markdown text rendered with markup; longer text is
	// rendered as plain text (escaped, paragraphs and line breaks kept), because the cost
	// of some Markdown constructs grows faster than their length.
	MaxMarkupBytes = 64 << 10

	maxNesting     = 16   // container markers (>, -, +, *, 1.) at the start of one line
	maxLinkOpeners = 32   // "](" in one run of non-white-space characters
	maxDelimRuns   = 1000 // runs of * _ ~ in one block (text between blank lines)
	maxCodeRuns    = 256  // runs of ` in one block
	maxRefLines    = 256  // lines starting with '[' (link reference definitions) in one block
)

// guardMarkdown returns s with pathological constructs escaped (s itself if none).
func guardMarkdown(s string) string {
	var ins []int // positions to insert a backslash before, ascending
	ins = nestingGuard(s, ins)
	ins = linkGuard(s, ins)
	ins = delimGuard(s, ins)
	if len(ins) == 0 {
		return s
	}
	slices.Sort(ins)
	var b strings.Builder
	b.Grow(len(s) + len(ins))
	last := 0
	for _, p := range ins {
		if p < last {
			continue // duplicate
		}
		b.WriteString(s[last:p])
		b.WriteByte('\\')
		last = p
	}
	b.WriteString(s[last:])
	return b.String()
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// nestingGuard appends, for each line with more than maxNesting container markers, the
// position of the first marker character over the limit.
func nestingGuard(s string, ins []int) []int {
	for lineStart := 0; lineStart < len(s); {
		end := strings.IndexByte(s[lineStart:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += lineStart
		}
		depth := 0
		j := lineStart
	markers:
		for {
			for j < end && isBlank(s[j]) {
				j++
			}
			if j >= end {
				break
			}
			mark := -1
			switch c := s[j]; {
			case c == '>':
				mark = j
				j++
			case (c == '-' || c == '+' || c == '*') && j+1 < end && isBlank(s[j+1]):
				mark = j
				j += 2
			case c >= '0' && c <= '9':
				k := j
				for k < end && k-j < 9 && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				if k < end && (s[k] == '.' || s[k] == ')') && (k+1 == end || isBlank(s[k+1])) {
					mark = k
					j = k + 1
				}
			}
			if mark < 0 {
				break markers
			}
			depth++
			if depth > maxNesting {
				ins = append(ins, mark)
				break markers
			}
		}
		lineStart = end + 1
	}
	return ins
}

// linkGuard appends the position of the '(' of every "](" beyond maxLinkOpeners in one
// run of non-white-space characters.
func linkGuard(s string, ins []int) []int {
	if strings.Count(s, "](") <= maxLinkOpeners {
		return ins
	}
	count := 0
	for i := 0; i+1 < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			count = 0
		case c == ']' && s[i+1] == '(':
			count++
			if count > maxLinkOpeners {
				ins = append(ins, i+1)
			}
		}
	}
	return ins
}

// delimGuard appends the positions of every delimiter character (* _ ~ `) of the runs
// beyond maxDelimRuns (maxCodeRuns for backticks), and of the '[' starting a line beyond
// maxRefLines, in one block of non-blank lines.
func delimGuard(s string, ins []int) []int {
	delims, codes, refs := 0, 0, 0
	lineBlank := true // the current line has only white space so far
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\n':
			if lineBlank {
				delims, codes, refs = 0, 0, 0 // a blank line ends the block
			}
			lineBlank = true
			continue
		case ' ', '\t':
			continue
		}
		if lineBlank && c == '[' {
			refs++
			if refs > maxRefLines {
				ins = append(ins, i)
			}
		}
		lineBlank = false
		if c != '*' && c != '_' && c != '~' && c != '`' {
			continue
		}
		j := i
		for j < len(s) && s[j] == c {
			j++
		}
		over := false
		if c == '`' {
			codes++
			over = codes > maxCodeRuns
		} else {
			delims++
			over = delims > maxDelimRuns
		}
		if over {
			for k := i; k < j; k++ {
				ins = append(ins, k)
			}
		}
		i = j - 1
	}
	return ins
}
