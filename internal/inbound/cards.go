package inbound

import (
	"strings"

	"golang.org/x/net/html"
)

// cardTextKeys are the card fields that hold text, in the order they are usually shown.
var cardTextKeys = map[string]bool{
	"title": true, "subtitle": true, "topLabel": true, "text": true, "content": true,
	"bottomLabel": true, "altText": true, "label": true,
}

// cardSkipKeys hold no readable content (icons, styles, actions rendered elsewhere).
var cardSkipKeys = map[string]bool{
	"icon": true, "startIcon": true, "endIcon": true, "imageUrl": true, "iconUrl": true,
	"knownIcon": true, "color": true, "imageType": true, "imageStyle": true, "altIcon": true,
	"onClick": true, "action": true, "cardId": true, "name": true,
}

// renderCard turns a Google Chat card (v1 or v2) into Chat markup text: header title and
// subtitle, section headers, widget texts and buttons as links, in document order.
func renderCard(card *node) string {
	if card == nil || !card.isObj {
		return ""
	}
	var lines []string
	emit := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, s)
		}
	}
	if h := card.get("header"); h != nil {
		if t := cardHTML(h.text("title")); t != "" {
			emit("*" + t + "*")
		}
		emit(cardHTML(h.text("subtitle")))
	}
	for i, k := range card.keys {
		if k == "header" || k == "name" || k == "cardId" {
			continue
		}
		walkCard(card.vals[i], 0, emit)
	}
	return strings.Join(lines, "\n")
}

func walkCard(n *node, depth int, emit func(string)) {
	if n == nil || depth > maxTreeDepth {
		return
	}
	if n.isList {
		for _, it := range n.items {
			walkCard(it, depth+1, emit)
		}
		return
	}
	if !n.isObj {
		return
	}
	if url := clickURL(n); url != "" {
		emit(cardHTML(n.text("topLabel")))
		label := ""
		for _, k := range []string{"text", "content", "title", "altText", "label"} {
			if label = cardHTML(n.text(k)); label != "" {
				break
			}
		}
		if tb := n.get("textButton"); label == "" && tb != nil {
			label = cardHTML(tb.text("text"))
		}
		if label == "" {
			label = url
		}
		emit(chatLink(url, label))
		emit(cardHTML(n.text("bottomLabel")))
		return
	}
	for i, k := range n.keys {
		v := n.vals[i]
		switch {
		case cardSkipKeys[k]:
		case k == "header" && v.isStr:
			if t := cardHTML(v.str); t != "" {
				emit("*" + t + "*")
			}
		case cardTextKeys[k] && v.isStr:
			emit(cardHTML(v.str))
		case v.isObj || v.isList:
			walkCard(v, depth+1, emit)
		}
	}
}

// clickURL returns the link a widget or button opens (onClick.openLink.url), if any.
func clickURL(n *node) string {
	for _, holder := range []*node{n, n.get("textButton"), n.get("imageButton"), n.get("button")} {
		if holder == nil {
			continue
		}
		if u := holder.path("onClick", "openLink").text("url"); u != "" {
			return u
		}
	}
	return ""
}

// chatLink writes a Chat markup link, or only the label when the URL is not a plain
// http(s) URL that fits in <url|label>.
func chatLink(url, label string) string {
	label = strings.NewReplacer("|", " ", ">", " ", "<", " ", "\n", " ").Replace(label)
	if !safeLinkURL(url) {
		return label
	}
	return "<" + url + "|" + strings.TrimSpace(label) + ">"
}

// safeLinkURL accepts http(s) URLs that cannot break out of link markup.
func safeLinkURL(u string) bool {
	lu := strings.ToLower(u)
	if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") {
		return false
	}
	return !strings.ContainsAny(u, "|<>\"' \t\n\r()[]")
}

// cardHTML converts the small HTML subset card texts allow (<b> <i> <s> <u> <font> <a>
// <br>) to Chat markup; everything else becomes plain text.
func cardHTML(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	href, label := "", strings.Builder{}
	inLink := false
	write := func(t string) {
		if inLink {
			label.WriteString(t)
		} else {
			b.WriteString(t)
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if inLink {
				b.WriteString(chatLink(href, label.String()))
			}
			return b.String()
		case html.TextToken:
			write(string(z.Text()))
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "b", "strong":
				write("*")
			case "i", "em":
				write("_")
			case "s", "strike", "del":
				write("~")
			case "br":
				write("\n")
			case "a":
				if tt == html.StartTagToken && !inLink {
					href = ""
					for hasAttr {
						var k, v []byte
						k, v, hasAttr = z.TagAttr()
						if string(k) == "href" {
							href = string(v)
						}
					}
					inLink = true
					label.Reset()
				} else if tt == html.EndTagToken && inLink {
					inLink = false
					b.WriteString(chatLink(href, label.String()))
				}
			}
		}
	}
}
