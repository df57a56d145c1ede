// Package relay turns chathooks events into messages for other chat tools' incoming
// webhooks (Slack, Mattermost, Google Chat, Amazon Chime, or another chathooks server's
// webhook of those dialects), and judges their answers as each tool does. It is pure: the
// delivery engine sends what Build returns and records what Accepted says.
package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/chat"
)

// HopsHeader carries how many chathooks relays a message crossed, counting the one
// sending the request. Incoming webhooks record it on the message so that relays stop
// loops.
const HopsHeader = "Chathooks-Relay-Hops"

// ReplyOption is the Google Chat messageReplyOption relayed replies use: join the thread
// named by threadKey, or start it.
const ReplyOption = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

// Text limits of the targets, in bytes of UTF-8 (Slack and Mattermost count characters;
// bytes are at least as many, so the cut is safe).
const (
	chimeMaxBytes      = 4096
	googleChatMaxBytes = 32000
	slackMaxChars      = 40000
	mattermostMaxChars = 16383
)

// ErrNotRelayed is returned for events a chat target without a template does not show
// (anything but message_send and message_update).
var ErrNotRelayed = errors.New("relay: only messages are relayed without a template")

// Target is a chat target endpoint ready to post to.
type Target struct {
	Format   string // chat.TargetSlack, TargetMattermost, TargetGoogleChat, TargetChime
	URL      string // the target's webhook URL, in clear ("" for a preview)
	Template string // "" for the default message
}

// Request is one relayed request.
type Request struct {
	URL    string
	Header http.Header
	Body   []byte
}

// MarkupOf is the markup a target's text is written in.
func MarkupOf(format string) Markup {
	switch format {
	case chat.TargetSlack:
		return MarkupSlack
	case chat.TargetGoogleChat:
		return MarkupGChat
	}
	return MarkupMarkdown
}

// Build renders ev for target t.
func Build(t Target, ev *chat.Event) (Request, error) {
	if !chat.IsChatTarget(t.Format) {
		return Request{}, fmt.Errorf("relay: %q is not a chat target", t.Format)
	}
	d, err := newData(ev, MarkupOf(t.Format))
	if err != nil {
		return Request{}, err
	}
	var body []byte
	if t.Template != "" {
		if body, err = execute(t.Template, d); err != nil {
			return Request{}, err
		}
	} else {
		if d.Message == nil {
			return Request{}, ErrNotRelayed
		}
		if body, err = defaultBody(t.Format, d); err != nil {
			return Request{}, err
		}
	}
	h := make(http.Header, 4)
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("User-Agent", "chathooks")
	h.Set(HopsHeader, strconv.Itoa(d.Hops))
	return Request{URL: targetURL(t, d), Header: h, Body: body}, nil
}

// targetURL adds Google Chat's threading and idempotency parameters: a reply joins the
// thread keyed by its root's id, a root starts that thread, and a retried request (same
// event) returns the message created the first time instead of posting twice.
func targetURL(t Target, d *Data) string {
	if t.Format != chat.TargetGoogleChat || t.URL == "" {
		return t.URL
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t.URL
	}
	q := u.Query()
	if d.ThreadKey != "" && q.Get("messageReplyOption") == "" {
		q.Set("messageReplyOption", ReplyOption)
	}
	if q.Get("requestId") == "" {
		q.Set("requestId", d.EventID)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// defaultBody is the message each target shows: who said it, the text in the target's
// markup, what it answers (where the target has no threads for webhooks) or the Google
// Chat thread it belongs to.
func defaultBody(format string, d *Data) ([]byte, error) {
	mk := MarkupOf(format)
	name := d.Sender
	if name == "" {
		name = "unknown"
	}
	head := bold(mk, escapeFor(mk, name))
	if d.Edited {
		head += " (edited)"
	}
	text := d.Text
	if strings.Contains(text, "\n") {
		text = head + ":\n" + text
	} else {
		text = head + ": " + text
	}
	if d.Reply != nil && format != chat.TargetGoogleChat {
		text = replyLine(mk, d.Reply) + "\n" + text
	}
	var v any
	switch format {
	case chat.TargetSlack:
		v = map[string]any{"text": cutRunes(text, slackMaxChars)}
	case chat.TargetMattermost:
		v = map[string]any{"text": cutRunes(text, mattermostMaxChars)}
	case chat.TargetChime:
		v = map[string]any{"Content": cutBytes(text, chimeMaxBytes)}
	case chat.TargetGoogleChat:
		m := map[string]any{"text": cutBytes(text, googleChatMaxBytes)}
		if d.ThreadKey != "" {
			m["thread"] = map[string]string{"threadKey": d.ThreadKey}
		}
		v = m
	}
	return marshal(v)
}

// replyLine says which message a reply answers.
func replyLine(mk Markup, r *chat.ThreadRoot) string {
	who := r.SenderName
	if who == "" {
		who = "a message"
	}
	ex := strings.TrimSpace(r.Excerpt)
	line := "↪ in reply to " + bold(mk, escapeFor(mk, who))
	if ex != "" {
		line += ": “" + escapeFor(mk, ex) + "”"
	}
	if mk == MarkupPlain {
		return line
	}
	return "> " + line
}

func bold(mk Markup, s string) string {
	switch mk {
	case MarkupMarkdown:
		return "**" + s + "**"
	case MarkupPlain:
		return s
	}
	return "*" + s + "*"
}

// escapeFor protects plain text (a name, an excerpt) inside the target's markup.
func escapeFor(mk Markup, s string) string {
	switch mk {
	case MarkupSlack:
		return slackEscape(s)
	case MarkupMarkdown:
		return strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`).Replace(s)
	}
	return s
}

// marshal encodes JSON without HTML escaping (<, >, & stay as they are, as the targets'
// markup needs them).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("relay: encode body: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Accepted judges a target's answer as the target's own clients do: Slack answers 200 with
// the body "ok", Google Chat 200 with the created message (its "name"), Chime 200 with a
// MessageId, Mattermost 200. body may be only the start of the response.
func Accepted(format string, status int, body string) bool {
	if status != http.StatusOK {
		return false
	}
	switch format {
	case chat.TargetSlack:
		return strings.TrimSpace(body) == "ok"
	case chat.TargetGoogleChat:
		return topLevelString(body, "name")
	case chat.TargetChime:
		return topLevelString(body, "MessageId")
	}
	return true
}

// topLevelString reports whether the JSON object in body has a non-empty string at key,
// reading tokens only as far as needed (body may be cut short).
func topLevelString(body, key string) bool {
	dec := json.NewDecoder(strings.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false
		}
		if k, _ := kt.(string); k == key {
			vt, err := dec.Token()
			s, ok := vt.(string)
			return err == nil && ok && s != ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// Data is what a template sees (and what the default message is made of).
type Data struct {
	Type      string       // the event type
	EventID   string       // the event id
	CreatedAt time.Time    // when the event happened
	RoomID    string       // the room ("" for events without one)
	Room      chat.RoomRef // the room as the event carries it
	// Message events only:
	Message   *chat.Message    // the message
	Sender    string           // the sender's name
	AvatarURL string           // the sender's avatar, if any
	Text      string           // the text in the target's markup
	Edited    bool             // message_update
	Reply     *chat.ThreadRoot // the thread root a reply answers (nil otherwise)
	ThreadKey string           // the id of the message's thread root
	// Hops is the hop count the request carries.
	Hops int
	// Payload is the event's data, decoded (every event type).
	Payload map[string]any

	markup Markup
}

func newData(ev *chat.Event, mk Markup) (*Data, error) {
	d := &Data{Type: ev.Type, EventID: ev.ID, CreatedAt: ev.CreatedAt, RoomID: ev.RoomID, markup: mk, Hops: ev.RelayHops + 1}
	if err := json.Unmarshal(ev.Payload, &d.Payload); err != nil {
		return nil, fmt.Errorf("relay: decode event payload: %w", err)
	}
	if r, ok := d.Payload["room"].(map[string]any); ok {
		d.Room.ID, _ = r["id"].(string)
		d.Room.Name, _ = r["name"].(string)
		if n, ok := r["member_count"].(float64); ok {
			d.Room.MemberCount = int(n)
		}
	}
	if ev.Type != chat.EventMessageSend && ev.Type != chat.EventMessageUpdate {
		return d, nil
	}
	var p chat.MessagePayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return nil, fmt.Errorf("relay: decode message payload: %w", err)
	}
	m := p.Message
	d.Message, d.Room, d.Reply = &m, p.Room, p.ThreadRoot
	d.Sender, d.AvatarURL = m.Sender.Name, m.Sender.AvatarURL
	d.Text = Convert(m.HTML, mk)
	if d.Text == "" {
		d.Text = m.Text
	}
	d.Edited = ev.Type == chat.EventMessageUpdate
	d.ThreadKey = m.ThreadID
	if d.ThreadKey == "" {
		d.ThreadKey = m.ID
	}
	// The stored event does not keep the hop count; its message does.
	d.Hops = max(ev.RelayHops, m.RelayHops) + 1
	return d, nil
}
