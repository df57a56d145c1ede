package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// dialectNames are the four incoming dialects, in dialectPost's order.
var dialectNames = []string{"chime", "google_chat", "slack", "mattermost"}

// answer is a dialect's reply.
type answer struct {
	status int
	ctype  string
	body   string
}

func readAnswer(resp *http.Response) answer {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// checkShape reports whether a refusal with status is in the dialect's own shape: Chime's
// {"Code","Message"}, Google's google.rpc.Status, Slack's plain-text code, Mattermost's
// AppError, with the code each uses for 429 and 503.
func checkShape(dialect int, a answer) error {
	want := map[int][4]string{
		http.StatusTooManyRequests:    {"Throttled", "RESOURCE_EXHAUSTED", "rate_limited", "api.context.rate_limit_exceeded.app_error"},
		http.StatusServiceUnavailable: {"ServiceUnavailable", "UNAVAILABLE", "service_unavailable", "api.context.unavailable.app_error"},
	}[a.status][dialect%4]
	if want == "" {
		return fmt.Errorf("%s: status %d is not a 429 or 503", dialectNames[dialect%4], a.status)
	}
	var got string
	switch dialect % 4 {
	case 0:
		var b struct{ Code, Message string }
		if json.Unmarshal([]byte(a.body), &b) != nil || b.Message == "" {
			return fmt.Errorf("chime: body %q is not {Code, Message}", a.body)
		}
		got = b.Code
	case 1:
		var b struct {
			Error struct {
				Code    int
				Message string
				Status  string
			}
		}
		if json.Unmarshal([]byte(a.body), &b) != nil || b.Error.Code != a.status {
			return fmt.Errorf("google_chat: body %q is not a google.rpc.Status with code %d", a.body, a.status)
		}
		got = b.Error.Status
	case 2:
		if !strings.HasPrefix(a.ctype, "text/plain") {
			return fmt.Errorf("slack: content type %q, want text/plain", a.ctype)
		}
		got = a.body
	default:
		var b struct {
			ID         string `json:"id"`
			StatusCode int    `json:"status_code"`
		}
		if json.Unmarshal([]byte(a.body), &b) != nil || b.StatusCode != a.status {
			return fmt.Errorf("mattermost: body %q is not an AppError with status_code %d", a.body, a.status)
		}
		got = b.ID
	}
	if got != want {
		return fmt.Errorf("%s %d: code %q, want %q (body %q)", dialectNames[dialect%4], a.status, got, want, a.body)
	}
	return nil
}
