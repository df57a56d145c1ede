package inbound

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
)

// SlackMaxTextChars is where Slack truncates text (it does not reject it).
const SlackMaxTextChars = 40000

// SlackMessage is what a Slack webhook request asks for.
type SlackMessage struct {
	Text     string // text, blocks and attachments in mrkdwn, truncated to SlackMaxTextChars
	ThreadTS string
}

type slackPayload struct {
	Text        flexString      `json:"text"`
	Blocks      json.RawMessage `json:"blocks"`
	Attachments []Attachment    `json:"attachments"`
	ThreadTS    flexString      `json:"thread_ts"`
}

// ParseSlack reads a Slack webhook body: JSON, or a form with the JSON in payload=.
// JSON is accepted whatever the Content-Type (a form type whose body is a JSON object
// included, as curl -d sends).
func ParseSlack(contentType string, body []byte) (SlackMessage, error) {
	var m SlackMessage
	raw, err := slackJSON(contentType, body)
	if err != nil {
		return m, err
	}
	var p slackPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return m, errorf(KindInvalid, "invalid_payload")
	}
	if len(p.Attachments) > MaxAttachments {
		return m, errorf(KindTooManyAttach, "too_many_attachments")
	}
	blocks := ""
	if len(p.Blocks) > 0 && string(p.Blocks) != "null" {
		tree, err := parseTree(p.Blocks)
		if err != nil || !tree.isList {
			return m, errorf(KindInvalid, "invalid_blocks")
		}
		blocks = renderBlocks(tree)
	}
	text := string(p.Text)
	if blocks != "" {
		text = blocks // with blocks, text is only the notification fallback
	}
	m.Text = fitText(truncateRunes(joinParts(text, renderAttachments(p.Attachments, slackMarkup)), SlackMaxTextChars))
	if strings.TrimSpace(m.Text) == "" {
		return m, errorf(KindEmpty, "no_text")
	}
	m.ThreadTS = strings.TrimSpace(string(p.ThreadTS))
	return m, nil
}

// slackJSON returns the JSON object of the request.
func slackJSON(contentType string, body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" && (len(trimmed) == 0 || trimmed[0] != '{') {
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("payload") {
			return nil, errorf(KindInvalid, "invalid_payload")
		}
		trimmed = bytes.TrimSpace([]byte(form.Get("payload")))
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errorf(KindInvalid, "invalid_payload")
	}
	return trimmed, nil
}

// renderBlocks renders Block Kit blocks: the text objects (mrkdwn and plain_text) in
// document order, and links of buttons and images.
func renderBlocks(blocks *node) string {
	var lines []string
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		if n == nil || depth > maxTreeDepth {
			return
		}
		if n.isList {
			for _, it := range n.items {
				walk(it, depth+1)
			}
			return
		}
		if !n.isObj {
			return
		}
		switch n.text("type") {
		case "mrkdwn", "plain_text":
			if t := strings.TrimSpace(n.text("text")); t != "" {
				lines = append(lines, t)
			}
			return
		case "button":
			label := ""
			if t := n.get("text"); t != nil {
				label = t.text("text")
			}
			if u := n.text("url"); u != "" {
				lines = append(lines, slackMarkup.link(u, label))
				return
			}
		case "image":
			if u := n.text("image_url"); safeLinkURL(u) {
				lines = append(lines, slackMarkup.link(u, n.text("alt_text")))
			}
			return
		case "header":
			if t := n.get("text"); t != nil && strings.TrimSpace(t.text("text")) != "" {
				lines = append(lines, slackMarkup.bold(t.text("text")))
				return
			}
		}
		if n.text("type") == "text" && n.get("text") != nil && n.get("text").isStr { // rich_text leaf
			lines = append(lines, n.text("text"))
			return
		}
		for _, v := range n.vals {
			walk(v, depth+1)
		}
	}
	walk(blocks, 0)
	return strings.Join(lines, "\n")
}
