package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
)

// GoogleChatMaxBytes is Google Chat's message limit: text and cards together.
const GoogleChatMaxBytes = 32000

// GoogleChatMessage is what a Google Chat webhook request asks for.
type GoogleChatMessage struct {
	Text        string // text with the cards rendered after it, in Chat markup
	ThreadKey   string // thread.threadKey, else the legacy threadKey query parameter
	ThreadName  string // thread.name: spaces/{space}/threads/{thread}
	ReplyOption string // messageReplyOption
	RequestID   string // requestId
}

// googleMessageFields are the fields of the Message resource (lowerCamel and proto
// names, as Google's JSON parser accepts both). Any other field is rejected.
var googleMessageFields = map[string]string{}

func init() {
	for _, f := range []string{
		"name", "sender", "createTime", "lastUpdateTime", "deleteTime", "text", "formattedText",
		"cards", "cardsV2", "annotations", "thread", "space", "fallbackText", "actionResponse",
		"argumentText", "slashCommand", "attachment", "matchedUrl", "threadReply",
		"clientAssignedMessageId", "emojiReactionSummaries", "privateMessageViewer",
		"deletionMetadata", "quotedMessageMetadata", "attachedGifs", "accessoryWidgets",
	} {
		googleMessageFields[f] = f
		googleMessageFields[snake(f)] = f
	}
}

var googleThreadFields = map[string]string{
	"name": "name", "threadKey": "threadKey", "thread_key": "threadKey",
	"retentionSettings": "retentionSettings", "retention_settings": "retentionSettings",
}

func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

const invalidJSON = "Invalid JSON payload received."

// decodeObject reads a JSON object whose keys must be in fields (mapping accepted names to
// canonical ones), returning the raw values by canonical name. Valid JSON with an object
// at the top goes through a scan of its keys (objectKeys); anything else through
// decodeObjectTokens, which words the errors.
func decodeObject(b []byte, fields map[string]string, where string) (map[string]json.RawMessage, error) {
	if out, ok, err := objectKeys(b, fields, where); ok {
		return out, err
	}
	return decodeObjectTokens(b, fields, where)
}

// objectKeys is decodeObject for a body json.Valid accepts whose top-level value is an
// object: the keys in document order (unescaped as the decoder unescapes them), each
// value's bytes as written, the first key not in fields refused as decodeObjectTokens
// refuses it. ok is false for any other body. It costs a fraction of reading the object a
// token at a time, which allocates for every token (BenchmarkStepDecodeGoogleChat).
func objectKeys(b []byte, fields map[string]string, where string) (out map[string]json.RawMessage, ok bool, err error) {
	if !json.Valid(b) {
		return nil, false, nil
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, false, nil
	}
	out = map[string]json.RawMessage{}
	if i = skipSpace(b, i+1); b[i] == '}' {
		return out, true, nil
	}
	for {
		end := skipString(b, i) // b[i] is the key's opening quote
		k, plain := plainString(b[i:end])
		if !plain && json.Unmarshal(b[i:end], &k) != nil {
			return nil, false, nil
		}
		i = skipSpace(b, skipSpace(b, end)+1) // past the colon
		vend := skipValue(b, i)
		name, known := fields[k]
		if !known {
			return nil, true, errorf(KindInvalid, "%s Unknown name %q at '%s': Cannot find field.", invalidJSON, k, where)
		}
		out[name] = json.RawMessage(b[i:vend])
		if i = skipSpace(b, vend); b[i] == '}' {
			return out, true, nil
		}
		i = skipSpace(b, i+1) // past the comma
	}
}

// plainString returns the text of a JSON string token (quotes included) that has no
// escape and only ASCII, whose text is then its bytes; ok is false for any other.
func plainString(tok []byte) (string, bool) {
	s := tok[1 : len(tok)-1]
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return string(s), true
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int { return len(b) - len(skipJSONSpace(b[i:])) }

// skipString returns the index just past the string token starting at b[i] (valid JSON).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i] (valid JSON).
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++ // a number, true, false or null
	}
	return i
}

// decodeObjectTokens is decodeObject reading the object a token at a time.
func decodeObjectTokens(b []byte, fields map[string]string, where string) (map[string]json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	tok, err := d.Token()
	if err != nil {
		return nil, errorf(KindInvalid, "%s Unexpected token.", invalidJSON)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, errorf(KindInvalid, "%s Expected an object at '%s'.", invalidJSON, where)
	}
	out := map[string]json.RawMessage{}
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return nil, errorf(KindInvalid, "%s Unexpected token.", invalidJSON)
		}
		k, _ := kt.(string)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, errorf(KindInvalid, "%s Unexpected token.", invalidJSON)
		}
		name, ok := fields[k]
		if !ok {
			return nil, errorf(KindInvalid, "%s Unknown name %q at '%s': Cannot find field.", invalidJSON, k, where)
		}
		out[name] = raw
	}
	if _, err := d.Token(); err != nil {
		return nil, errorf(KindInvalid, "%s Unexpected token.", invalidJSON)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errorf(KindInvalid, "%s Unexpected token after the message.", invalidJSON)
	}
	return out, nil
}

// stringField decodes an optional string field (absent and null are "").
func stringField(obj map[string]json.RawMessage, name, where string) (string, error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	if len(raw) >= 2 && raw[0] == '"' {
		if s, ok := plainString(raw); ok {
			return s, nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(KindInvalid, "Invalid value at '%s.%s' (TYPE_STRING), %s", where, name, raw)
	}
	return s, nil
}

// ParseGoogleChat reads a Google Chat webhook request: the Message resource in body and
// the query parameters (alt, prettyPrint, key, token, messageId are ignored here).
func ParseGoogleChat(body []byte, q url.Values) (GoogleChatMessage, error) {
	var m GoogleChatMessage
	if len(bytes.TrimSpace(body)) == 0 {
		return m, errorf(KindEmpty, "Message cannot be empty. Discarded empty message.")
	}
	obj, err := decodeObject(body, googleMessageFields, "message")
	if err != nil {
		return m, err
	}
	text, err := stringField(obj, "text", "message")
	if err != nil {
		return m, err
	}
	fallback, err := stringField(obj, "fallbackText", "message")
	if err != nil {
		return m, err
	}
	if raw, ok := obj["thread"]; ok && string(raw) != "null" {
		th, err := decodeObject(raw, googleThreadFields, "message.thread")
		if err != nil {
			return m, err
		}
		if m.ThreadName, err = stringField(th, "name", "message.thread"); err != nil {
			return m, err
		}
		if m.ThreadKey, err = stringField(th, "threadKey", "message.thread"); err != nil {
			return m, err
		}
	}
	size := len(text)
	var cards []string
	for _, name := range []string{"cardsV2", "cards"} {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			continue
		}
		size += len(raw)
		if size > GoogleChatMaxBytes {
			break
		}
		tree, err := parseTree(raw)
		if err != nil || !tree.isList {
			return m, errorf(KindInvalid, "Invalid value at 'message.%s': expected a list of cards.", snake(name))
		}
		for _, item := range tree.items {
			card := item
			if name == "cardsV2" {
				card = item.get("card")
			}
			if t := renderCard(card); t != "" {
				cards = append(cards, t)
			}
		}
	}
	if size > GoogleChatMaxBytes {
		return m, errorf(KindInvalid, "Message too large: text and cards are %d bytes; the limit is %d bytes.", size, GoogleChatMaxBytes)
	}
	if strings.TrimSpace(text) == "" && len(cards) == 0 {
		if _, hasCards := obj["cardsV2"]; (hasCards || obj["cards"] != nil) && strings.TrimSpace(fallback) != "" {
			cards = append(cards, fallback)
		} else {
			return m, errorf(KindEmpty, "Message cannot be empty. Discarded empty message.")
		}
	}
	m.Text = fitText(joinParts(append([]string{text}, cards...)...))
	if m.ThreadKey == "" {
		m.ThreadKey = q.Get("threadKey")
	}
	m.ReplyOption = q.Get("messageReplyOption")
	m.RequestID = q.Get("requestId")
	return m, nil
}

// ParseThreadName splits "spaces/{space}/threads/{thread}".
func ParseThreadName(name string) (space, thread string, ok bool) {
	rest, ok := strings.CutPrefix(name, "spaces/")
	if !ok {
		return "", "", false
	}
	space, thread, ok = strings.Cut(rest, "/threads/")
	if !ok || space == "" || thread == "" || strings.Contains(thread, "/") {
		return "", "", false
	}
	return space, thread, true
}
