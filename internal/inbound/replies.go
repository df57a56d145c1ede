package inbound

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/chathooks/chathooks/internal/chat"
)

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// replyBufs holds buffers for hand-encoded answers.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// jsonSafe reports whether s is written in JSON exactly as is between quotes (encoding/json
// would escape nothing in it).
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// writeJSONParts answers 200 with the parts joined in a pooled buffer: a success answer
// whose JSON the caller built from literals and jsonSafe values, without encoding/json.
func writeJSONParts(w http.ResponseWriter, contentType string, parts ...string) {
	bp := replyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	replyBufs.Put(bp)
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// chimeReply: success {"MessageId","RoomId"}; errors {"Message","Code"}.
type chimeReply struct{}

func (chimeReply) ok(w http.ResponseWriter, m chat.Message) {
	if jsonSafe(m.ID) && jsonSafe(m.RoomID) {
		// The common case without encoding/json: ids that need no escaping.
		writeJSONParts(w, "application/json", `{"MessageId":"`, m.ID, `","RoomId":"`, m.RoomID, `"}`)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", struct {
		MessageID string `json:"MessageId"`
		RoomID    string `json:"RoomId"`
	}{m.ID, m.RoomID})
}

func (chimeReply) fail(w http.ResponseWriter, e *Error) {
	status, code := http.StatusInternalServerError, "ServiceFailure"
	switch e.Kind {
	case KindInvalid, KindEmpty, KindTooManyAttach:
		status, code = http.StatusBadRequest, "BadRequest"
	case KindTooLarge:
		status, code = http.StatusRequestEntityTooLarge, "ResourceLimitExceeded"
	case KindUnknownHook, KindBadToken:
		status, code = http.StatusForbidden, "Forbidden"
	case KindRevoked, KindRoomGone, KindNotFound:
		status, code = http.StatusNotFound, "NotFound"
	case KindRateLimited:
		status, code = http.StatusTooManyRequests, "Throttled"
	case KindUnavailable:
		status, code = http.StatusServiceUnavailable, "ServiceUnavailable"
	}
	writeJSON(w, status, "application/json", struct {
		Message string `json:"Message"`
		Code    string `json:"Code"`
	}{e.Message, code})
}

// googleReply: success {"name","thread":{"name"}} exactly; errors google.rpc.Status.
type googleReply struct{}

type googleName struct {
	Name string `json:"name"`
}

func (googleReply) ok(w http.ResponseWriter, m chat.Message) {
	if jsonSafe(m.ID) && jsonSafe(m.RoomID) && jsonSafe(m.ThreadID) {
		writeJSONParts(w, "application/json; charset=UTF-8", `{"name":"spaces/`, m.RoomID, `/messages/`, m.ID,
			`","thread":{"name":"spaces/`, m.RoomID, `/threads/`, m.ThreadID, `"}}`)
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=UTF-8", struct {
		Name   string     `json:"name"`
		Thread googleName `json:"thread"`
	}{"spaces/" + m.RoomID + "/messages/" + m.ID, googleName{"spaces/" + m.RoomID + "/threads/" + m.ThreadID}})
}

func (googleReply) fail(w http.ResponseWriter, e *Error) {
	status, code := http.StatusInternalServerError, "INTERNAL"
	switch e.Kind {
	case KindInvalid, KindEmpty, KindTooLarge, KindTooManyAttach:
		status, code = http.StatusBadRequest, "INVALID_ARGUMENT"
	case KindBadToken:
		status, code = http.StatusUnauthorized, "UNAUTHENTICATED"
	case KindUnknownHook, KindRevoked, KindRoomGone, KindNotFound:
		status, code = http.StatusNotFound, "NOT_FOUND"
	case KindRateLimited:
		status, code = http.StatusTooManyRequests, "RESOURCE_EXHAUSTED"
	case KindUnavailable:
		status, code = http.StatusServiceUnavailable, "UNAVAILABLE"
	}
	type rpcStatus struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	}
	writeJSON(w, status, "application/json; charset=UTF-8", struct {
		Error rpcStatus `json:"error"`
	}{rpcStatus{status, e.Message, code}})
}

// slackReply: success 200 "ok" as text/plain; errors plain-text error strings.
type slackReply struct{}

func (slackReply) ok(w http.ResponseWriter, _ chat.Message) { writeText(w, http.StatusOK, "ok") }

func (slackReply) fail(w http.ResponseWriter, e *Error) {
	status, body := http.StatusInternalServerError, "rollup_error"
	switch e.Kind {
	case KindInvalid, KindTooLarge:
		status, body = http.StatusBadRequest, "invalid_payload"
		if e.Message == "invalid_blocks" {
			body = e.Message
		}
	case KindEmpty:
		status, body = http.StatusBadRequest, "no_text"
	case KindTooManyAttach:
		status, body = http.StatusBadRequest, "too_many_attachments"
	case KindUnknownHook, KindBadToken:
		status, body = http.StatusForbidden, "invalid_token"
	case KindRevoked:
		status, body = http.StatusNotFound, "no_service"
	case KindRoomGone, KindNotFound:
		status, body = http.StatusNotFound, "channel_not_found"
	case KindRateLimited:
		status, body = http.StatusTooManyRequests, "rate_limited"
	case KindUnavailable:
		status, body = http.StatusServiceUnavailable, "service_unavailable"
	}
	writeText(w, status, body)
}

// mattermostReply: success 200 "ok" as text/plain; errors Mattermost AppError JSON.
type mattermostReply struct{}

func (mattermostReply) ok(w http.ResponseWriter, _ chat.Message) { writeText(w, http.StatusOK, "ok") }

// AppError is Mattermost's error body.
type AppError struct {
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id"`
	StatusCode    int    `json:"status_code"`
}

// mattermostRequestID is a request id in Mattermost's form: 26 lowercase base32 characters.
func mattermostRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:26]
}

func (mattermostReply) fail(w http.ResponseWriter, e *Error) {
	a := AppError{StatusCode: http.StatusInternalServerError, ID: "web.incoming_webhook.internal.app_error", Message: "An internal error occurred.", DetailedError: e.Message, RequestID: mattermostRequestID()}
	switch e.Kind {
	case KindInvalid, KindTooManyAttach:
		a.StatusCode, a.ID, a.Message = http.StatusBadRequest, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data."
	case KindEmpty:
		a.StatusCode, a.ID, a.Message = http.StatusBadRequest, "web.incoming_webhook.text.app_error", "No text specified."
	case KindTooLarge:
		a.StatusCode, a.ID, a.Message = http.StatusRequestEntityTooLarge, "api.context.request_body_too_large.app_error", "Request body too large."
	case KindUnknownHook, KindBadToken:
		// Exactly Mattermost's answer to a hook id it does not know, which is all a wrong
		// token is: nothing tells a guessed token from one that was never issued.
		a.StatusCode, a.ID, a.Message, a.DetailedError = http.StatusBadRequest, "web.incoming_webhook.invalid.app_error", "Invalid webhook.", ""
	case KindRevoked:
		a.StatusCode, a.ID, a.Message = http.StatusNotFound, "web.incoming_webhook.invalid.app_error", "Invalid webhook: it was regenerated or deleted."
	case KindRoomGone, KindNotFound:
		a.StatusCode, a.ID, a.Message = http.StatusNotFound, "app.channel.get.existing.app_error", "Unable to find the existing channel."
	case KindRateLimited:
		a.StatusCode, a.ID, a.Message = http.StatusTooManyRequests, "api.context.rate_limit_exceeded.app_error", "Too many requests for this channel; try again later."
	case KindUnavailable:
		a.StatusCode, a.ID, a.Message = http.StatusServiceUnavailable, "api.context.unavailable.app_error", "The server is unavailable; try again later."
	}
	if a.DetailedError == a.Message {
		a.DetailedError = ""
	}
	w.Header().Set("X-Request-Id", a.RequestID)
	writeJSON(w, a.StatusCode, "application/json", a)
}
