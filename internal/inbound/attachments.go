package inbound

import (
	"strings"
)

// MaxAttachments is Slack's limit on attachments per message.
const MaxAttachments = 100

// Attachment is a Slack-style legacy attachment (Slack and Mattermost).
type Attachment struct {
	Fallback   flexString        `json:"fallback"`
	Color      flexString        `json:"color"`
	Pretext    flexString        `json:"pretext"`
	AuthorName flexString        `json:"author_name"`
	AuthorLink flexString        `json:"author_link"`
	Title      flexString        `json:"title"`
	TitleLink  flexString        `json:"title_link"`
	Text       flexString        `json:"text"`
	Fields     []AttachmentField `json:"fields"`
	ImageURL   flexString        `json:"image_url"`
	Footer     flexString        `json:"footer"`
}

// AttachmentField is one of an attachment's fields.
type AttachmentField struct {
	Title flexString `json:"title"`
	Value flexString `json:"value"`
	Short bool       `json:"short"`
}

// markup writes an attachment's parts in one markup language.
type markup struct {
	bold func(string) string
	link func(url, label string) string
}

var slackMarkup = markup{
	bold: func(s string) string { return "*" + oneLine(s) + "*" },
	link: func(url, label string) string {
		label = strings.NewReplacer("|", " ", ">", "&gt;", "<", "&lt;").Replace(oneLine(label))
		if !safeLinkURL(url) {
			return label
		}
		return "<" + url + "|" + label + ">"
	},
}

var markdownMarkup = markup{
	bold: func(s string) string { return "**" + oneLine(s) + "**" },
	link: func(url, label string) string {
		label = strings.NewReplacer("[", `\[`, "]", `\]`).Replace(oneLine(label))
		if !safeLinkURL(url) {
			return label
		}
		return "[" + label + "](" + url + ")"
	},
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(s))
}

// renderAttachments renders attachments as message content: pretext, author, title
// (linked), text, fields, footer; the fallback when nothing else is there.
func renderAttachments(as []Attachment, m markup) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		var lines []string
		add := func(s string) {
			if strings.TrimSpace(s) != "" {
				lines = append(lines, s)
			}
		}
		add(string(a.Pretext))
		if name := string(a.AuthorName); strings.TrimSpace(name) != "" {
			add(m.link(string(a.AuthorLink), name))
		}
		if title := string(a.Title); strings.TrimSpace(title) != "" {
			if link := string(a.TitleLink); link != "" {
				add(m.bold(m.link(link, title)))
			} else {
				add(m.bold(title))
			}
		}
		add(string(a.Text))
		for _, f := range a.Fields {
			if t := string(f.Title); strings.TrimSpace(t) != "" {
				add(m.bold(t))
			}
			add(string(f.Value))
		}
		if u := string(a.ImageURL); safeLinkURL(u) {
			add(m.link(u, "image"))
		}
		add(string(a.Footer))
		if len(lines) == 0 {
			add(string(a.Fallback))
		}
		parts = append(parts, strings.Join(lines, "\n"))
	}
	return joinParts(parts...)
}
