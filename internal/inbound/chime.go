package inbound

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ChimeMaxContentBytes is Chime's message limit: the decoded Content, in UTF-8 bytes.
const ChimeMaxContentBytes = 4096

// ParseChime reads a Chime webhook body, {"Content": "..."}, and returns the Content.
// The key is case-sensitive and other keys are ignored.
func ParseChime(body []byte) (string, error) {
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
	if strings.TrimSpace(content) == "" {
		return "", errorf(KindInvalid, "Content is empty")
	}
	if len(content) > ChimeMaxContentBytes {
		return "", errorf(KindTooLarge, "Content is %d bytes; the limit is %d bytes", len(content), ChimeMaxContentBytes)
	}
	return content, nil
}
