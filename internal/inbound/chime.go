package inbound

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// ChimeMaxContentBytes is Chime's message limit: the decoded Content, in UTF-8 bytes.
const ChimeMaxContentBytes = 4096

// ParseChime reads a Chime webhook body, {"Content": "..."}, and returns the Content.
// The key is case-sensitive and other keys are ignored.
func ParseChime(body []byte) (string, error) {
	if content, ok := chimeFast(body); ok {
		return checkChimeContent(content)
	}
	return parseChimeJSON(body)
}

// parseChimeJSON is ParseChime through encoding/json, for every body chimeFast declines.
func parseChimeJSON(body []byte) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", errorf(KindInvalid, "the body must be a JSON object with a Content string")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return "", errorf(KindInvalid, "the body must be a JSON object with a Content string")
	}
	raw, ok := obj["Content"]
	if !ok || string(raw) == "null" {
		return "", errorf(KindInvalid, "Content is required")
	}
	var content string
	if err := json.Unmarshal(raw, &content); err != nil {
		return "", errorf(KindInvalid, "Content must be a string")
	}
	return checkChimeContent(content)
}

func checkChimeContent(content string) (string, error) {
	if strings.TrimSpace(content) == "" {
		return "", errorf(KindInvalid, "Content is empty")
	}
	if len(content) > ChimeMaxContentBytes {
		return "", errorf(KindTooLarge, "Content is %d bytes; the limit is %d bytes", len(content), ChimeMaxContentBytes)
	}
	return content, nil
}

// chimeFast decodes the common body, exactly {"Content":"..."} with optional JSON
// whitespace around the tokens and a string without escapes, control characters or
// invalid UTF-8, whose content is then the raw bytes. Anything else (ok false) goes
// through encoding/json.
func chimeFast(body []byte) (string, bool) {
	b := skipJSONSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return "", false
	}
	b, ok := bytes.CutPrefix(skipJSONSpace(b[1:]), []byte(`"Content"`))
	if !ok {
		return "", false
	}
	b = skipJSONSpace(b)
	if len(b) == 0 || b[0] != ':' {
		return "", false
	}
	b = skipJSONSpace(b[1:])
	if len(b) == 0 || b[0] != '"' {
		return "", false
	}
	b = b[1:]
	end := -1
	for i, c := range b {
		if c == '"' {
			end = i
			break
		}
		if c == '\\' || c < 0x20 {
			return "", false
		}
	}
	if end < 0 || !utf8.Valid(b[:end]) {
		return "", false
	}
	content := b[:end]
	rest := skipJSONSpace(b[end+1:])
	if len(rest) == 0 || rest[0] != '}' || len(skipJSONSpace(rest[1:])) != 0 {
		return "", false
	}
	return string(content), true
}

// skipJSONSpace drops leading JSON whitespace (space, tab, LF, CR).
func skipJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
