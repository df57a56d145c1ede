package inbound

import (
	"encoding/json"
	"net/http"
)

// Chime serves POST /incomingwebhooks/{id}?token= (Amazon Chime). The server's route table
// mounts the four dialect handlers for POST only: other methods (a CORS preflight
// included) get 405 and never an Access-Control-Allow-* header.
func (h *Handler) Chime(w http.ResponseWriter, r *http.Request) { h.chime(w, r) }

// GoogleChat serves POST /v1/spaces/{space}/messages?key={id}&token= (Google Chat).
func (h *Handler) GoogleChat(w http.ResponseWriter, r *http.Request) { h.googleChat(w, r) }

// Slack serves POST /services/{room}/{id}/{token} (Slack).
func (h *Handler) Slack(w http.ResponseWriter, r *http.Request) { h.slack(w, r) }

// Mattermost serves POST /hooks/{token} (Mattermost).
func (h *Handler) Mattermost(w http.ResponseWriter, r *http.Request) { h.mattermost(w, r) }

// The types below describe the dialects' bodies and answers in the OpenAPI document; the
// parsers are more lenient than they say (numbers for strings, raw newlines, form bodies).

// ChimeBody is an Amazon Chime webhook post.
type ChimeBody struct {
	Content string `json:"Content" maxLength:"4096" doc:"Markdown (/md prefix optional); @All and @Present notify the room (rooms of at most 50 members)"`
}

// ChimeOK is Chime's success answer.
type ChimeOK struct {
	MessageID string `json:"MessageId"`
	RoomID    string `json:"RoomId"`
}

// ChimeError is Chime's error answer.
type ChimeError struct {
	Message string `json:"Message"`
	Code    string `json:"Code" enum:"BadRequest,Forbidden,NotFound,ResourceLimitExceeded,Throttled,ServiceUnavailable,ServiceFailure"`
}

// GoogleChatBody is a Google Chat webhook post.
type GoogleChatBody struct {
	Text     string            `json:"text,omitempty" doc:"Google Chat markup: *bold*, _italic_, ~strike~, <url|label>, <users/all>"`
	Thread   *GoogleChatThread `json:"thread,omitempty"`
	CardsV2  []json.RawMessage `json:"cardsV2,omitempty" doc:"cards v2, rendered to text and links"`
	Cards    []json.RawMessage `json:"cards,omitempty" doc:"legacy cards, rendered to text and links"`
	Fallback string            `json:"fallbackText,omitempty"`
}

// GoogleChatThread names the thread to post in.
type GoogleChatThread struct {
	ThreadKey string `json:"threadKey,omitempty" doc:"posts with the same key go to one thread (with messageReplyOption)"`
	Name      string `json:"name,omitempty" doc:"spaces/{space}/threads/{thread}"`
}

// GoogleChatOK is Google Chat's success answer (the created message).
type GoogleChatOK struct {
	Name   string `json:"name" doc:"spaces/{space}/messages/{message}"`
	Thread struct {
		Name string `json:"name" doc:"spaces/{space}/threads/{thread}"`
	} `json:"thread"`
}

// GoogleChatError is google.rpc.Status, Google's error answer.
type GoogleChatError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status" enum:"INVALID_ARGUMENT,UNAUTHENTICATED,NOT_FOUND,RESOURCE_EXHAUSTED,UNAVAILABLE,INTERNAL"`
	} `json:"error"`
}

// SlackBody is a Slack incoming-webhook post (JSON, or a form with payload=<JSON>).
type SlackBody struct {
	Text        string       `json:"text,omitempty" doc:"mrkdwn; <!here>, <!channel>, <url|label>; cut at 40,000 characters"`
	Blocks      []any        `json:"blocks,omitempty" doc:"Block Kit blocks, rendered to text (text is then the notification fallback)"`
	Attachments []Attachment `json:"attachments,omitempty" maxItems:"100"`
	ThreadTS    string       `json:"thread_ts,omitempty" doc:"reply in the thread of this message id, or of the thread this ts names"`
}

// MattermostBody is a Mattermost incoming-webhook post (JSON, payload=<JSON> form, or
// multipart fields).
type MattermostBody struct {
	Text        string       `json:"text,omitempty" doc:"Markdown; over 16,383 characters it is split into several posts"`
	Username    string       `json:"username,omitempty" doc:"accepted, not shown: the webhook's name is the sender"`
	IconURL     string       `json:"icon_url,omitempty"`
	Channel     string       `json:"channel,omitempty" doc:"accepted; the webhook's room is always used"`
	Attachments []Attachment `json:"attachments,omitempty" maxItems:"100"`
	Props       any          `json:"props,omitempty"`
}
