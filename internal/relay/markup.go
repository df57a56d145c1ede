package relay

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Markup is a target's text syntax.
type Markup string

// Markups a message can be converted to.
const (
	MarkupMarkdown Markup = "markdown" // CommonMark: Chime, Mattermost
	MarkupSlack    Markup = "slack"    // Slack mrkdwn
	MarkupGChat    Markup = "gchat"    // Google Chat's classic webhook markup
	MarkupPlain    Markup = "plain"    // text only: links as "label (url)", no emphasis
)

// ParseMarkup returns the markup named s.
func ParseMarkup(s string) (Markup, bool) {
	switch m := Markup(s); m {
	case MarkupMarkdown, MarkupSlack, MarkupGChat, MarkupPlain:
		return m, true
	}
	return "", false
}

// Convert turns a message's sanitised HTML (whatever markup it was written in) into text
// in markup m. Working from the HTML means one converter serves every source markup: the
// renderer already resolved emphasis, links, emoji and mentions into a small, known set of
// elements (see internal/render's policy).
func Convert(htmlText string, m Markup) string {
	root, err := html.Parse(strings.NewReader(htmlText))
	if err != nil {
		// html.Parse only fails on reader errors; a strings.Reader has none.
		return htmlText
	}
	c := &conv{m: m}
	c.blocks(root)
	return strings.TrimSpace(c.b.String())
}

// conv writes one conversion; blocks are separated by blank lines.
type conv struct {
	m Markup
	b strings.Builder
}

// blockAtoms are elements that start their own block.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Pre, atom.Blockquote, atom.Ul, atom.Ol, atom.Table, atom.Hr,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Div, atom.Li:
		return true
	}
	return false
}

// blocks writes the children of n as blocks.
func (c *conv) blocks(n *html.Node) {
	var inline []*html.Node
	flush := func() {
		if len(inline) == 0 {
			return
		}
		s := strings.TrimSpace(c.inlines(inline))
		inline = inline[:0]
		if s != "" {
			c.block(s)
		}
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type == html.ElementNode && isBlock(ch.DataAtom) {
			flush()
			c.element(ch)
			continue
		}
		if ch.Type == html.ElementNode && (ch.DataAtom == atom.Html || ch.DataAtom == atom.Body || ch.DataAtom == atom.Head) {
			flush()
			c.blocks(ch)
			continue
		}
		inline = append(inline, ch)
	}
	flush()
}

// block writes text as one block, after a blank line unless it is the first.
func (c *conv) block(text string) {
	if c.b.Len() > 0 {
		c.b.WriteString("\n\n")
	}
	c.b.WriteString(text)
}

func (c *conv) element(n *html.Node) {
	switch n.DataAtom {
	case atom.P, atom.Div:
		c.blocks(n)
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		s := strings.TrimSpace(c.inlines(children(n)))
		if s == "" {
			return
		}
		if c.m == MarkupMarkdown {
			level := int(n.Data[1] - '0')
			c.block(strings.Repeat("#", level) + " " + s)
		} else {
			c.block(c.wrap(s, "strong"))
		}
	case atom.Pre:
		c.block(c.code(strings.TrimRight(textOf(n), "\n"), "```\n", "\n```"))
	case atom.Blockquote:
		sub := &conv{m: c.m}
		sub.blocks(n)
		s := strings.TrimSpace(sub.b.String())
		if s == "" {
			return
		}
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight("> "+l, " ")
		}
		c.block(strings.Join(lines, "\n"))
	case atom.Ul, atom.Ol:
		c.list(n)
	case atom.Li:
		c.blocks(n)
	case atom.Hr:
		if c.m == MarkupMarkdown {
			c.block("---")
		} else {
			c.block("──────────")
		}
	case atom.Table:
		c.table(n)
	}
}

// list writes a list as lines "- item" (numbered for ol); nested lists are indented.
func (c *conv) list(n *html.Node) {
	num := 1
	if s := attr(n, "start"); s != "" {
		if v, err := strconv.Atoi(s); err == nil {
			num = v
		}
	}
	var lines []string
	for li := n.FirstChild; li != nil; li = li.NextSibling {
		if li.Type != html.ElementNode || li.DataAtom != atom.Li {
			continue
		}
		marker := c.bullet()
		if n.DataAtom == atom.Ol {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		sub := &conv{m: c.m}
		sub.blocks(li)
		body := strings.TrimSpace(sub.b.String())
		// A list item's paragraphs and nested lists stay in the item: no blank lines.
		var itemLines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.TrimSpace(l) != "" {
				itemLines = append(itemLines, l)
			}
		}
		for i, l := range itemLines {
			if i == 0 {
				lines = append(lines, marker+l)
			} else {
				lines = append(lines, strings.Repeat(" ", len([]rune(marker)))+l)
			}
		}
	}
	if len(lines) > 0 {
		c.block(strings.Join(lines, "\n"))
	}
}

func (c *conv) bullet() string {
	switch c.m {
	case MarkupSlack:
		return "• "
	case MarkupGChat:
		return "* "
	}
	return "- "
}

// table writes a table: a Markdown table for Markdown, "a | b" lines otherwise.
func (c *conv) table(n *html.Node) {
	var rows [][]string
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			if ch.Type != html.ElementNode {
				continue
			}
			if ch.DataAtom == atom.Tr {
				var row []string
				for cell := ch.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type == html.ElementNode && (cell.DataAtom == atom.Td || cell.DataAtom == atom.Th) {
						t := strings.TrimSpace(c.inlines(children(cell)))
						row = append(row, strings.ReplaceAll(strings.ReplaceAll(t, "\n", " "), "|", "\\|"))
					}
				}
				rows = append(rows, row)
				continue
			}
			walk(ch)
		}
	}
	walk(n)
	if len(rows) == 0 {
		return
	}
	var lines []string
	for i, r := range rows {
		if c.m == MarkupMarkdown {
			lines = append(lines, "| "+strings.Join(r, " | ")+" |")
			if i == 0 {
				lines = append(lines, "|"+strings.Repeat(" --- |", max(1, len(r))))
			}
		} else {
			lines = append(lines, strings.Join(r, " | "))
		}
	}
	c.block(strings.Join(lines, "\n"))
}

// inlines converts inline content.
func (c *conv) inlines(ns []*html.Node) string {
	var b strings.Builder
	for _, n := range ns {
		c.inline(&b, n)
	}
	return b.String()
}

func (c *conv) inline(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		// Line breaks in HTML text are spaces; <br> makes lines.
		t := strings.ReplaceAll(n.Data, "\n", " ")
		if b.Len() == 0 || strings.HasSuffix(b.String(), "\n") {
			t = strings.TrimLeft(t, " ")
		}
		b.WriteString(c.escape(t))
		return
	case html.ElementNode:
	default:
		return
	}
	switch n.DataAtom {
	case atom.Br:
		b.WriteString("\n")
	case atom.Strong, atom.B, atom.Em, atom.I, atom.Del, atom.S:
		inner := c.inlines(children(n))
		if strings.TrimSpace(inner) == "" {
			b.WriteString(inner)
			return
		}
		// Emphasis markers must touch the text: keep surrounding spaces outside.
		lead := inner[:len(inner)-len(strings.TrimLeft(inner, " "))]
		trail := inner[len(strings.TrimRight(inner, " ")):]
		b.WriteString(lead + c.wrap(strings.TrimSpace(inner), n.Data) + trail)
	case atom.Code:
		b.WriteString(c.code(textOf(n), "`", "`"))
	case atom.A:
		b.WriteString(c.link(attr(n, "href"), strings.TrimSpace(c.inlines(children(n)))))
	case atom.Span:
		if attr(n, "class") == "mention" {
			b.WriteString(c.mention(textOf(n)))
			return
		}
		b.WriteString(c.inlines(children(n)))
	default:
		if isBlock(n.DataAtom) {
			// A block inside inline content (a list inside a table cell): flatten.
			sub := &conv{m: c.m}
			sub.element(n)
			b.WriteString(strings.TrimSpace(sub.b.String()))
			return
		}
		b.WriteString(c.inlines(children(n)))
	}
}

// wrap applies emphasis tag (strong, em, del) to s.
func (c *conv) wrap(s, tag string) string {
	if c.m == MarkupPlain {
		return s
	}
	switch tag {
	case "strong", "b":
		if c.m == MarkupMarkdown {
			return "**" + s + "**"
		}
		return "*" + s + "*"
	case "em", "i":
		return "_" + s + "_"
	default: // del, s
		if c.m == MarkupMarkdown {
			return "~~" + s + "~~"
		}
		return "~" + s + "~"
	}
}

// link writes a link; a link whose label is its address is written bare.
func (c *conv) link(href, label string) string {
	if href == "" {
		return label
	}
	bare := label == "" || label == href || label == strings.TrimPrefix(href, "mailto:")
	switch c.m {
	case MarkupSlack, MarkupGChat:
		if bare {
			return "<" + href + ">"
		}
		return "<" + href + "|" + strings.ReplaceAll(label, ">", "") + ">"
	case MarkupMarkdown:
		if bare {
			return href
		}
		return "[" + strings.ReplaceAll(strings.ReplaceAll(label, "[", "\\["), "]", "\\]") + "](" + strings.ReplaceAll(href, ")", "%29") + ")"
	default:
		if bare {
			return href
		}
		return label + " (" + href + ")"
	}
}

// mention writes a mention (its text as rendered: "@all", "@here", "@alice") in the
// target's form: broadcasts as the target's broadcast, users as the target's user mention
// of the same id or alias (which resolves when the target knows it, as another chathooks
// server with the same users does; otherwise it reads as the name).
func (c *conv) mention(text string) string {
	ref := strings.TrimPrefix(strings.TrimSpace(text), "@")
	kind := "user"
	switch strings.ToLower(ref) {
	case "all", "channel", "everyone":
		kind = "all"
	case "here", "present":
		kind = "present"
	}
	switch c.m {
	case MarkupSlack:
		switch kind {
		case "all":
			return "<!channel>"
		case "present":
			return "<!here>"
		}
		return "<@" + ref + ">"
	case MarkupGChat:
		switch kind {
		case "all":
			return "<users/all>"
		case "present":
			return "@here" // Google Chat has no "present members" mention
		}
		return "<users/" + ref + ">"
	case MarkupMarkdown:
		switch kind {
		case "all":
			return "@all"
		case "present":
			return "@here"
		}
		return "@" + ref
	}
	return "@" + ref
}

// escape protects text from being read as markup by the target.
func (c *conv) escape(s string) string {
	if c.m == MarkupSlack {
		return slackEscape(s)
	}
	return s
}

// slackEscape escapes the three characters mrkdwn requires escaped.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func children(n *html.Node) []*html.Node {
	var out []*html.Node
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		out = append(out, ch)
	}
	return out
}

// textOf is the text content of n.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// code is code text in the target's markup, between open and close (plain text: as is).
func (c *conv) code(t, open, close string) string {
	switch c.m {
	case MarkupPlain:
		return t
	case MarkupSlack:
		t = slackEscape(t)
	}
	return open + t + close
}
