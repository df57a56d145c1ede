package render

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// allowedAttrs is the allow-list the output is checked against, independently of the
// bluemonday policy: element -> attributes it may carry.
var allowedAttrs = map[string]map[string]bool{
	"p": {}, "br": {}, "strong": {}, "em": {}, "del": {}, "pre": {}, "blockquote": {},
	"ul": {}, "li": {}, "table": {}, "thead": {}, "tbody": {}, "tr": {}, "hr": {},
	"h1": {}, "h2": {}, "h3": {}, "h4": {}, "h5": {}, "h6": {},
	"th":   {"align": true},
	"td":   {"align": true},
	"ol":   {"start": true},
	"code": {"class": true},
	"span": {"class": true},
	"a":    {"href": true, "rel": true, "target": true},
}

// checkSafe tokenizes out and reports the first thing that is not allowed: an element
// outside the allow-list, an attribute not allowed on its element (on* and style
// included), a link that is not http/https/mailto or lacks rel="nofollow noopener", a
// span that is not a mention, a comment or doctype, or invalid UTF-8.
func checkSafe(out string) error {
	if !utf8.ValidString(out) {
		return fmt.Errorf("output is not valid UTF-8")
	}
	if err := checkTokens(out); err != nil {
		return err
	}
	return checkTree(out)
}

// checkTree parses out as a fragment of a <div>, as a browser inserting it with innerHTML
// would, and checks every element of the resulting tree against the allow-list.
func checkTree(out string) error {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(out), ctx)
	if err != nil {
		return fmt.Errorf("parse: %v", err)
	}
	var walk func(n *html.Node) error
	walk = func(n *html.Node) error {
		switch n.Type {
		case html.ElementNode:
			attrs, ok := allowedAttrs[n.Data]
			if !ok || n.Namespace != "" {
				return fmt.Errorf("parsed element <%s> (namespace %q) not allowed", n.Data, n.Namespace)
			}
			for _, a := range n.Attr {
				if !attrs[strings.ToLower(a.Key)] || a.Namespace != "" {
					return fmt.Errorf("parsed attribute %q not allowed on <%s>", a.Key, n.Data)
				}
			}
		case html.CommentNode, html.DoctypeNode:
			return fmt.Errorf("parsed comment/doctype")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range nodes {
		if err := walk(n); err != nil {
			return err
		}
	}
	return nil
}

func checkTokens(out string) error {
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return nil // io.EOF: the tokenizer reads from memory
		case html.CommentToken:
			return fmt.Errorf("comment in output")
		case html.DoctypeToken:
			return fmt.Errorf("doctype in output")
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			attrs, ok := allowedAttrs[tok.Data]
			if !ok {
				return fmt.Errorf("element <%s> not allowed", tok.Data)
			}
			if tt == html.EndTagToken {
				continue
			}
			var rel string
			hasHref := false
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				if strings.HasPrefix(key, "on") || key == "style" || a.Namespace != "" {
					return fmt.Errorf("attribute %q on <%s>", a.Key, tok.Data)
				}
				if !attrs[key] {
					return fmt.Errorf("attribute %q not allowed on <%s>", a.Key, tok.Data)
				}
				switch key {
				case "href":
					hasHref = true
					v := strings.ToLower(a.Val)
					if !(strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "mailto:")) {
						return fmt.Errorf("href %q not http/https/mailto", a.Val)
					}
				case "rel":
					rel = a.Val
				case "target":
					if a.Val != "_blank" {
						return fmt.Errorf("target %q", a.Val)
					}
				case "class":
					if tok.Data == "span" && a.Val != "mention" {
						return fmt.Errorf("span class %q", a.Val)
					}
					if tok.Data == "code" && !strings.HasPrefix(a.Val, "language-") {
						return fmt.Errorf("code class %q", a.Val)
					}
				}
			}
			if tok.Data == "a" {
				if !hasHref {
					return fmt.Errorf("<a> without href")
				}
				if !strings.Contains(rel, "nofollow") || !strings.Contains(rel, "noopener") {
					return fmt.Errorf("<a> with rel %q", rel)
				}
			}
			if tok.Data == "span" && len(tok.Attr) == 0 {
				return fmt.Errorf("<span> without class")
			}
		}
	}
}
