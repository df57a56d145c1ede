package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
)

// MattermostMessage is what a Mattermost webhook request asks for.
type MattermostMessage struct {
	Text string // text and attachments in Markdown
}

type mattermostPayload struct {
	Text        flexString      `json:"text"`
	Username    flexString      `json:"username"`
	IconURL     flexString      `json:"icon_url"`
	IconEmoji   flexString      `json:"icon_emoji"`
	Channel     flexString      `json:"channel"`
	Attachments []Attachment    `json:"attachments"`
	Props       json.RawMessage `json:"props"`
}

// MattermostMaxPostRunes is Mattermost's maximum post size in characters (runes): longer
// webhook text is split into several posts of at most this many.
const MattermostMaxPostRunes = 16383

// SplitMattermost cuts text into pieces of at most MattermostMaxPostRunes characters, in
// order, as Mattermost splits a long webhook post (at the character limit, not at words).
// A piece of only white space is left out.
func SplitMattermost(text string) []string {
	var parts []string
	add := func(p string) {
		if strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
	}
	for {
		n, cut := 0, -1
		for i := range text {
			if n == MattermostMaxPostRunes {
				cut = i
				break
			}
			n++
		}
		if cut < 0 {
			add(text)
			return parts
		}
		add(text[:cut])
		text = text[cut:]
	}
}

// maxMultipartField bounds one multipart form field.
const maxMultipartField = 256 << 10

// ParseMattermost reads a Mattermost webhook body by Content-Type: none or anything else
// (JSON), application/x-www-form-urlencoded (payload=<JSON>), multipart/form-data (fields
// by name, or payload=<JSON>).
func ParseMattermost(contentType string, body []byte) (MattermostMessage, error) {
	var m MattermostMessage
	var p mattermostPayload
	mt, params := "", map[string]string(nil)
	if strings.TrimSpace(contentType) != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(contentType); err != nil {
			return m, errorf(KindInvalid, "Unable to parse the Content-Type header.")
		}
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		raw := body
		if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return m, errorf(KindInvalid, "Unable to parse incoming data.")
			}
			raw = []byte(form.Get("payload"))
		}
		if err := decodeMattermostJSON(raw, &p); err != nil {
			return m, err
		}
	case "multipart/form-data":
		if err := decodeMultipart(body, params["boundary"], &p); err != nil {
			return m, err
		}
	default:
		if err := decodeMattermostJSON(body, &p); err != nil {
			return m, err
		}
	}
	if len(p.Attachments) > MaxAttachments {
		return m, errorf(KindInvalid, "Too many attachments.")
	}
	// Not cut to one message's limit: the handler splits long text into several posts.
	m.Text = joinParts(string(p.Text), renderAttachments(p.Attachments, markdownMarkup))
	if strings.TrimSpace(m.Text) == "" {
		return m, errorf(KindEmpty, "No text specified.")
	}
	return m, nil
}

// decodeMattermostJSON decodes JSON, retrying once with raw newlines and tabs inside
// string values escaped (shell scripts send them), as Mattermost does.
func decodeMattermostJSON(raw []byte, p *mattermostPayload) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return errorf(KindInvalid, "Unable to parse incoming data.")
	}
	if err := json.Unmarshal(raw, p); err == nil {
		return nil
	}
	*p = mattermostPayload{}
	if err := json.Unmarshal(escapeControlInStrings(raw), p); err != nil {
		return errorf(KindInvalid, "Unable to parse incoming data.")
	}
	return nil
}

// escapeControlInStrings escapes raw control characters inside JSON string literals.
func escapeControlInStrings(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	in, esc := false, false
	for _, c := range b {
		if !in {
			if c == '"' {
				in = true
			}
			out = append(out, c)
			continue
		}
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			in = false
		case c == '\n':
			out = append(out, '\\', 'n')
			continue
		case c == '\r':
			out = append(out, '\\', 'r')
			continue
		case c == '\t':
			out = append(out, '\\', 't')
			continue
		case c < 0x20:
			const hex = "0123456789abcdef"
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			continue
		}
		out = append(out, c)
	}
	return out
}

// decodeMultipart maps form fields onto the payload by name; files are skipped.
func decodeMultipart(body []byte, boundary string, p *mattermostPayload) error {
	if boundary == "" {
		return errorf(KindInvalid, "Unable to parse multipart form: no boundary.")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errorf(KindInvalid, "Unable to parse multipart form.")
		}
		if part.FileName() != "" {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxMultipartField+1))
		if err != nil || len(v) > maxMultipartField {
			return errorf(KindInvalid, "Unable to parse multipart form.")
		}
		switch part.FormName() {
		case "text":
			p.Text = flexString(v)
		case "username":
			p.Username = flexString(v)
		case "icon_url":
			p.IconURL = flexString(v)
		case "icon_emoji":
			p.IconEmoji = flexString(v)
		case "channel":
			p.Channel = flexString(v)
		case "payload":
			if err := decodeMattermostJSON(v, p); err != nil {
				return err
			}
		}
	}
}
