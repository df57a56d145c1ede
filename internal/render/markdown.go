package render

import (
	"bytes"
	"regexp"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// linkifyURL is goldmark's bare-URL pattern for http(s) only, without requiring a dot in
// the host (so "http://localhost:8080/x" links too) and without '<', '>', '"' and '`',
// which end a URL in running text.
var linkifyURL = regexp.MustCompile(`^(?:http|https)://[-a-zA-Z0-9@:%._\+~#=\[\]]{1,256}(?:[/#?][-a-zA-Z0-9@:%_+.~#$!?&/=\(\);,'\^{}\[\]*]*)?`)

// newMarkdown builds the goldmark instance: CommonMark + GFM tables, strikethrough and
// autolinks (http, https and e-mail), hard line breaks (chat style), emoji and Chime
// mentions. Raw HTML is not parsed at all: an HTML block or inline tag stays text and is
// escaped, so nothing the sender writes can become markup.
func newMarkdown() goldmark.Markdown {
	// goldmark's defaults (parser.DefaultBlockParsers/DefaultInlineParsers) minus the
	// HTML block and raw HTML parsers.
	blocks := []util.PrioritizedValue{
		util.Prioritized(parser.NewSetextHeadingParser(), 100),
		util.Prioritized(parser.NewThematicBreakParser(), 200),
		util.Prioritized(parser.NewListParser(), 300),
		util.Prioritized(parser.NewListItemParser(), 400),
		util.Prioritized(parser.NewCodeBlockParser(), 500),
		util.Prioritized(parser.NewATXHeadingParser(), 600),
		util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
		util.Prioritized(parser.NewBlockquoteParser(), 800),
		util.Prioritized(parser.NewParagraphParser(), 1000),
	}
	inlines := []util.PrioritizedValue{
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(parser.NewLinkParser(), 200),
		util.Prioritized(parser.NewAutoLinkParser(), 300),
		util.Prioritized(emojiParser{}, 350),
		util.Prioritized(mentionParser{}, 360),
		util.Prioritized(parser.NewEmphasisParser(), 500),
	}
	p := parser.NewParser(
		parser.WithBlockParsers(blocks...),
		parser.WithInlineParsers(inlines...),
		parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
		parser.WithASTTransformers(util.Prioritized(textMerger{}, 100)),
	)
	return goldmark.New(
		goldmark.WithParser(p),
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
			extension.NewLinkify(
				extension.WithLinkifyAllowedProtocols([]string{"http:", "https:"}),
				extension.WithLinkifyURLRegexp(linkifyURL),
			),
		),
		goldmark.WithRendererOptions(
			html.WithHardWraps(),
			renderer.WithNodeRenderers(util.Prioritized(nodeRenderer{}, 100)),
		),
	)
}

// renderMarkdown renders src (already normalised) into dst and returns the mentions.
func (r *Renderer) renderMarkdown(dst *bytes.Buffer, src []byte) []Mention {
	doc := r.md.Parser().Parse(text.NewReader(src))
	var ms mentionSet
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			if m, ok := n.(*mentionNode); ok {
				ms.add(m.mention)
			}
		}
		return ast.WalkContinue, nil
	})
	if err := r.md.Renderer().Render(dst, src, doc); err != nil {
		dst.Reset()
		writePlain(dst, string(src))
	}
	return ms.list
}

// textMerger joins adjacent text nodes that cover contiguous source, and trims the
// white space at the end of a line. goldmark splits text wherever an inline parser was
// tried (at every space, for linkify): a failed try at the ';' of an entity at the end of
// a line ("&lt;") would leave "&lt" and ";" in two nodes, and the entity would not be
// decoded; and only the last piece of a line has its trailing spaces removed, so
// "a    \nb" gave "a <br>b".
type textMerger struct{}

func (textMerger) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	source := reader.Source()
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if n.Kind() == ast.KindCodeSpan {
			return ast.WalkSkipChildren, nil
		}
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			t, ok := c.(*ast.Text)
			if !ok {
				continue
			}
			for {
				next, ok := t.NextSibling().(*ast.Text)
				if !ok || t.SoftLineBreak() || t.HardLineBreak() || t.IsRaw() || next.IsRaw() ||
					t.Segment.Padding != 0 || next.Segment.Padding != 0 ||
					t.Segment.Stop != next.Segment.Start || t.Segment.ForceNewline || next.Segment.ForceNewline {
					break
				}
				t.Segment = t.Segment.WithStop(next.Segment.Stop)
				t.SetSoftLineBreak(next.SoftLineBreak())
				t.SetHardLineBreak(next.HardLineBreak())
				n.RemoveChild(n, next)
			}
			if !t.IsRaw() && t.Segment.Padding == 0 && (t.SoftLineBreak() || t.HardLineBreak() || t.NextSibling() == nil && n.Type() == ast.TypeBlock) {
				t.Segment = t.Segment.TrimRightSpace(source)
			}
		}
		return ast.WalkContinue, nil
	})
}

// --- emoji -----------------------------------------------------------------------------

type emojiParser struct{}

func (emojiParser) Trigger() []byte { return []byte{':', ';', '<'} }

func (emojiParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	e, n := matchEmoji(block.PrecendingCharacter(), util.BytesToReadOnlyString(line))
	if n == 0 {
		return nil
	}
	block.Advance(n)
	s := ast.NewString([]byte(e))
	s.SetCode(true) // written as is: a constant emoji, no escaping needed
	return s
}

// --- mentions --------------------------------------------------------------------------

// kindMention is the goldmark node kind of a Chime mention.
var kindMention = ast.NewNodeKind("Mention")

type mentionNode struct {
	ast.BaseInline
	mention Mention
	text    string // as written, with the '@'
}

func (n *mentionNode) Kind() ast.NodeKind { return kindMention }

func (n *mentionNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Ref": n.mention.Ref, "Kind": string(n.mention.Kind)}, nil)
}

type mentionParser struct{}

func (mentionParser) Trigger() []byte { return []byte{'@'} }

func (mentionParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	if !mentionStart(block.PrecendingCharacter()) {
		return nil
	}
	line, _ := block.PeekLine()
	m, n := matchMention(util.BytesToReadOnlyString(line))
	if n == 0 {
		return nil
	}
	node := &mentionNode{mention: m, text: string(line[:n])}
	block.Advance(n)
	return node
}

// --- rendering -------------------------------------------------------------------------

// nodeRenderer overrides goldmark's HTML for links (only http/https/mailto, always
// rel="nofollow noopener" target="_blank", no title), images (a link to the image, never
// an <img>) and renders mentions.
type nodeRenderer struct{}

func (nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindLink, renderLink)
	reg.Register(ast.KindAutoLink, renderAutoLink)
	reg.Register(ast.KindImage, renderImage)
	reg.Register(ast.KindRawHTML, renderNothing)
	reg.Register(ast.KindHTMLBlock, renderNothing)
	reg.Register(kindMention, renderMention)
	reg.Register(east.KindTableCell, renderTableCell)
}

// renderTableCell is goldmark's table cell renderer (align attribute method) without its
// fmt.Fprintf calls, which cost a fifth of the time of rendering a table.
func renderTableCell(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*east.TableCell)
	tag := "td"
	if n.Parent().Kind() == east.KindTableHeader {
		tag = "th"
	}
	if entering {
		_ = w.WriteByte('<')
		_, _ = w.WriteString(tag)
		switch n.Alignment {
		case east.AlignLeft, east.AlignRight, east.AlignCenter:
			_, _ = w.WriteString(` align="`)
			_, _ = w.WriteString(n.Alignment.String())
			_ = w.WriteByte('"')
		}
		_ = w.WriteByte('>')
	} else {
		_, _ = w.WriteString("</")
		_, _ = w.WriteString(tag)
		_, _ = w.WriteString(">\n")
	}
	return ast.WalkContinue, nil
}

func renderNothing(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	return ast.WalkSkipChildren, nil
}

func renderLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Link)
	href, ok := safeHref(util.BytesToReadOnlyString(n.Destination))
	if !ok {
		return ast.WalkContinue, nil // the label alone, as text
	}
	if entering {
		writeLinkOpen(w, href)
	} else {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

func renderAutoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	url := string(n.URL(source))
	if n.AutoLinkType == ast.AutoLinkEmail && !hasPrefixFold(url, "mailto:") {
		url = "mailto:" + url
	}
	href, ok := safeHref(url)
	if ok {
		writeLinkOpen(w, href)
	}
	writeEscaped(w, util.BytesToReadOnlyString(n.Label(source)))
	if ok {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

func renderImage(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Image)
	href, ok := safeHref(util.BytesToReadOnlyString(n.Destination))
	if ok {
		for p := n.Parent(); p != nil; p = p.Parent() {
			if p.Kind() == ast.KindLink {
				ok = false // no links inside links: the alt text only
				break
			}
		}
	}
	if !ok {
		return ast.WalkContinue, nil
	}
	if entering {
		writeLinkOpen(w, href)
	} else {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

func renderMention(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		writeMention(w, node.(*mentionNode).text)
	}
	return ast.WalkSkipChildren, nil
}
