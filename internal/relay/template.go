package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// MaxBodyBytes bounds what a template may render.
const MaxBodyBytes = 256 << 10

// Templates are Go text/template programs rendering the whole request body from the
// event (see Data for the fields). The functions, besides text/template's built-ins:
//
//	json v           v as JSON (a string becomes a quoted, escaped JSON string)
//	markup name      the message's text in markup "slack", "markdown", "gchat" or "plain"
//	truncate n s     s cut to at most n characters ("…" marks the cut)
//	default d v      v, or d when v is empty
//	join sep list    the list's elements joined by sep
//
// The result must be one JSON object (every chat target takes JSON).
//
// Every execution runs within a budget (see budget.go): a string function's result, and
// the sum of them, and the loop iterations and template calls are bounded.
func funcs(d *Data, b *budget) template.FuncMap {
	fm := template.FuncMap{
		"json": func(v any) (string, error) {
			if s, ok := v.(string); ok && len(s) > MaxBodyBytes {
				return "", errFuncResult
			}
			out, err := marshal(v)
			return b.result(string(out), err)
		},
		"markup": func(name string) (string, error) {
			mk, ok := ParseMarkup(name)
			if !ok {
				return "", fmt.Errorf("markup: unknown markup %q (slack, markdown, gchat, plain)", name)
			}
			if d == nil || d.Message == nil {
				return "", nil
			}
			return b.count(Convert(d.Message.HTML, mk))
		},
		"truncate": func(n int, s string) (string, error) {
			if n <= 0 {
				return "", nil
			}
			return b.count(cutRunes(s, n))
		},
		"default": func(def, v any) any {
			if v == nil {
				return def
			}
			if s, ok := v.(string); ok && s == "" {
				return def
			}
			return v
		},
		"join": func(sep string, list any) (string, error) {
			var parts []string
			switch l := list.(type) {
			case []string:
				parts = l
			case []any:
				parts = make([]string, len(l))
				for i, x := range l {
					parts[i] = fmt.Sprint(x)
				}
			case nil:
				return "", nil
			default:
				return "", fmt.Errorf("join: %T is not a list", list)
			}
			n := len(sep) * max(len(parts)-1, 0)
			for _, p := range parts {
				n += len(p)
			}
			if n > MaxBodyBytes {
				return "", errFuncResult
			}
			return b.result(strings.Join(parts, sep), nil)
		},
	}
	maps.Copy(fm, budgetFuncs(b))
	return fm
}

// Parse compiles a template (without running it).
func Parse(src string) (*template.Template, error) {
	t, err := template.New("body").Option("missingkey=zero").Funcs(funcs(nil, nil)).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template: %w", cleanErr(err))
	}
	guard(t)
	return t, nil
}

// execute renders src for d; the result must be one JSON object of at most MaxBodyBytes.
func execute(src string, d *Data) ([]byte, error) {
	t, err := Parse(src)
	if err != nil {
		return nil, err
	}
	var b limitedBuffer
	if err := t.Funcs(funcs(d, &budget{})).Execute(&b, d); err != nil {
		if be := budgetErr(err); be != nil {
			return nil, fmt.Errorf("template: %w", be)
		}
		return nil, fmt.Errorf("template: %w", cleanErr(err))
	}
	out := bytes.TrimSpace(b.Bytes())
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(out, &obj); err != nil {
		return nil, fmt.Errorf("template: the result is not a JSON object: %w", err)
	}
	return out, nil
}

// cleanErr drops text/template's "template: body:" prefix.
func cleanErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	msg = strings.TrimPrefix(msg, "body:")
	return errors.New(msg)
}

var errTooLarge = fmt.Errorf("the result is larger than %d bytes", MaxBodyBytes)

// limitedBuffer fails writes past MaxBodyBytes, stopping a runaway template.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > MaxBodyBytes {
		return 0, errTooLarge
	}
	return l.Buffer.Write(p)
}

// Check validates a template for a target subscribed to eventTypes ("*": every type): it
// must compile and render a JSON object for a sample event of every type.
func Check(format, src string, eventTypes []string) error {
	types := eventTypes
	if slices.Contains(types, "*") {
		types = chat.EventTypes
	}
	if _, err := Parse(src); err != nil {
		return err
	}
	for _, typ := range types {
		ev, ok := SampleEvent(typ)
		if !ok {
			continue
		}
		if _, err := Build(Target{Format: format, Template: src}, &ev); err != nil {
			return fmt.Errorf("for a sample %s event: %w", typ, err)
		}
	}
	return nil
}

// SampleEvent returns a representative event of type typ (false for unknown types): what
// templates are checked against and what previews show when no event is given.
func SampleEvent(typ string) (chat.Event, bool) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	room := chat.RoomRef{ID: "ops", Name: "Ops", MemberCount: 3}
	alice := chat.UserRef{ID: "alice", Name: "Alice", Kind: chat.KindHuman, Alias: "al"}
	bot := chat.UserRef{ID: "helpdesk", Name: "Helpdesk bot", Kind: chat.KindAgent}
	msg := chat.Message{
		ID: "msg_sample2", RoomID: room.ID, ThreadID: "msg_sample1",
		Sender: chat.Sender{Type: chat.SenderUser, ID: alice.ID, Name: alice.Name},
		Text:   "deploy **done** @helpdesk see https://ci.example.com/42", Format: chat.FormatMarkdown,
		HTML:     `<p>deploy <strong>done</strong> <span class="mention">@helpdesk</span> see <a href="https://ci.example.com/42" rel="nofollow noopener" target="_blank">https://ci.example.com/42</a></p>`,
		Mentions: []chat.Mention{{Type: "user", UserID: bot.ID}}, CreatedAt: at,
	}
	root := &chat.ThreadRoot{ID: "msg_sample1", SenderName: "Helpdesk bot", Excerpt: "deploy started"}
	var p any
	switch typ {
	case chat.EventRoomCreate, chat.EventRoomChanged, chat.EventRoomRemove:
		p = chat.RoomPayload{Room: room, Members: []chat.UserRef{alice, bot}}
	case chat.EventRoomInvite:
		p = chat.MembershipPayload{Room: room, Users: []chat.UserRef{bot}, Inviter: &alice}
	case chat.EventRoomJoin, chat.EventRoomLeave:
		p = chat.MembershipPayload{Room: room, Users: []chat.UserRef{alice}}
	case chat.EventMessageSend:
		p = chat.MessagePayload{Room: room, Message: msg, ThreadRoot: root}
	case chat.EventMessageUpdate:
		upd := at.Add(time.Minute)
		msg.UpdatedAt = &upd
		p = chat.MessagePayload{Room: room, Message: msg, ThreadRoot: root}
	case chat.EventMessageDelete:
		p = chat.MessageDeletePayload{Room: room, MessageID: msg.ID, Message: msg}
	case chat.EventMessageRead:
		p = chat.ReadPayload{Room: room, User: alice, MessageID: msg.ID, ReadAt: at}
	case chat.EventUserBlock, chat.EventUserUnblock:
		p = chat.BlockPayload{Blocker: alice, Blocked: bot}
		room = chat.RoomRef{}
	default:
		if pl := chat.ExamplePayload(typ, at); pl != nil {
			return chat.Event{ID: "evt_sample", Type: typ, CreatedAt: at, Payload: pl}, true
		}
		return chat.Event{}, false
	}
	b, err := json.Marshal(p)
	if err != nil {
		return chat.Event{}, false
	}
	return chat.Event{ID: "evt_sample", Type: typ, RoomID: room.ID, CreatedAt: at, Payload: b}, true
}

// Renderer gives the domain what it needs of this package: template checks, previews
// and sample events (chat.Relay).
type Renderer struct{}

// CheckTemplate implements chat.Relay.
func (Renderer) CheckTemplate(format, template string, eventTypes []string) error {
	return Check(format, template, eventTypes)
}

// Preview implements chat.Relay.
func (Renderer) Preview(format, template, targetURL string, ev *chat.Event) (chat.Preview, error) {
	r, err := Build(Target{Format: format, URL: targetURL, Template: template}, ev)
	if err != nil {
		return chat.Preview{}, err
	}
	h := make(map[string]string, len(r.Header))
	for k := range r.Header {
		h[k] = r.Header.Get(k)
	}
	return chat.Preview{URL: r.URL, Headers: h, Body: r.Body}, nil
}

// SampleEvent implements chat.Relay.
func (Renderer) SampleEvent(typ string) (chat.Event, bool) { return SampleEvent(typ) }
