package chat

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Relay renders the bodies of chat targets (implemented by internal/relay).
type Relay interface {
	// CheckTemplate validates a body template for a target of format subscribed to
	// eventTypes: it must render a JSON object for a sample event of every type.
	CheckTemplate(format, template string, eventTypes []string) error
	// Preview renders the request a target at targetURL would get for ev, without sending.
	Preview(format, template, targetURL string, ev *Event) (Preview, error)
	// SampleEvent is a representative event of a type (false for unknown types).
	SampleEvent(typ string) (Event, bool)
}

// Preview is a rendered chat-target request.
type Preview struct {
	EventID   string            `json:"event_id"`
	EventType string            `json:"event_type"`
	URL       string            `json:"url" doc:"the target URL (redacted) with the parameters the request adds"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
}

// PreviewInput chooses the event a preview renders: a stored event, a given one, or a
// sample of a type (default: the first type the endpoint subscribes to).
type PreviewInput struct {
	EventID   string
	EventType string
	Event     *Event // Type, RoomID and Payload are used
}

// chatTargetTypes are what a chat target without a template relays.
var chatTargetTypes = []string{EventMessageSend, EventMessageUpdate}

// RedactURL is how a chat target's URL is shown once stored: scheme, host and path, with
// the last path segment (but Google Chat's "messages") and every query value masked:
// Slack, Mattermost and chathooks carry the secret in the last segment, Google Chat and
// Chime in the query.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "****"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = url.QueryEscape(k) + "=****"
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	p := strings.TrimSuffix(u.Path, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 && i < len(p)-1 && p[i+1:] != "messages" {
		u.Path, u.RawPath = p[:i+1]+"****", ""
	}
	s := u.String()
	return strings.ReplaceAll(s, "%2A%2A%2A%2A", "****")
}

// chatTargetDefaults fills what a new chat target leaves out: it relays messages, one
// request at a time (so a room's messages arrive in order), paced to one per second where
// the target allows no more (Chime, Google Chat).
func chatTargetDefaults(e *Endpoint) {
	if len(e.EventTypes) == 0 {
		e.EventTypes = []string{EventMessageSend}
	}
	if e.MaxInFlight == 0 {
		e.MaxInFlight = 1
	}
	if e.RateLimit == 0 && (e.Format == TargetChime || e.Format == TargetGoogleChat) {
		e.RateLimit = ChatTargetRate
	}
}

// validate checks an endpoint; secret is its secret in clear (a chat target's URL);
// checkURL is false when an update leaves the URL as it was.
func (o *Deliveries) validate(e Endpoint, secret string, checkURL bool) error {
	if err := validScope(e); err != nil {
		return err
	}
	if !IsChatTarget(e.Format) {
		if e.Template != "" {
			return Errorf(CodeInvalidArgument, "template is only for the chat formats (slack, mattermost, google_chat, chime)")
		}
		return o.validateEndpoint(e, secret, checkURL)
	}
	if len(secret) > 4096 {
		return Errorf(CodeInvalidArgument, "url is longer than 4096 bytes")
	}
	if checkURL {
		if err := o.validEndpointURL(secret); err != nil {
			return err
		}
	}
	if err := validEventTypes(e.EventTypes); err != nil {
		return err
	}
	if e.Template == "" {
		for _, t := range e.EventTypes {
			if !slices.Contains(chatTargetTypes, t) {
				return Errorf(CodeInvalidArgument, "event_types: without a template a chat target relays only %s and %s, not %q",
					EventMessageSend, EventMessageUpdate, t)
			}
		}
	} else {
		if len(e.Template) > MaxTemplateBytes {
			return Errorf(CodeInvalidArgument, "template is longer than %d bytes", MaxTemplateBytes)
		}
		if o.relay == nil {
			return Errorf(CodeFailedPrecond, "templates are not available on this server")
		}
		if err := o.relay.CheckTemplate(e.Format, e.Template, e.EventTypes); err != nil {
			return &Error{Code: CodeInvalidArgument, Message: "template: " + err.Error(), Err: err}
		}
	}
	return validOptions(e)
}

// validScope checks room_ids, max_hops and ordering (every format).
func validScope(e Endpoint) error {
	switch e.Ordering {
	case "", OrderingConcurrent, OrderingFIFO:
	default:
		return Errorf(CodeInvalidArgument, "ordering %q is not one of concurrent, fifo", e.Ordering)
	}
	if len(e.RoomIDs) > MaxRoomScope {
		return Errorf(CodeInvalidArgument, "room_ids: at most %d rooms", MaxRoomScope)
	}
	for _, id := range e.RoomIDs {
		if err := validID("room_ids", id); err != nil {
			return err
		}
	}
	if e.MaxHops < 0 || e.MaxHops > MaxRelayHops {
		return Errorf(CodeInvalidArgument, "max_hops must be between 1 and %d", MaxRelayHops)
	}
	return nil
}

// checkRooms verifies that every scoped room exists.
func checkRooms(tx Tx, ids []string) error {
	for _, id := range ids {
		if _, err := tx.GetRoom(id); err != nil {
			if IsCode(err, CodeNotFound) {
				return Errorf(CodeInvalidArgument, "room_ids: room %q not found", id)
			}
			return err
		}
	}
	return nil
}

// PreviewEndpoint renders what a chat target would be sent for an event, without sending.
func (o *Deliveries) PreviewEndpoint(ctx context.Context, id string, in PreviewInput) (Preview, error) {
	e, err := o.svc.store.GetEndpoint(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	if !IsChatTarget(e.Format) {
		return Preview{}, Errorf(CodeFailedPrecond, "endpoint %q is not a chat target: only the chat formats render a preview", id)
	}
	if o.relay == nil {
		return Preview{}, Errorf(CodeFailedPrecond, "previews are not available on this server")
	}
	var ev Event
	switch {
	case in.EventID != "":
		evs, err := o.svc.store.EventsByID(ctx, []string{in.EventID})
		if err != nil {
			return Preview{}, err
		}
		if len(evs) == 0 {
			return Preview{}, Errorf(CodeNotFound, "event %q not found", in.EventID)
		}
		ev = evs[0]
	case in.Event != nil:
		if !KnownEventType(in.Event.Type) {
			return Preview{}, Errorf(CodeInvalidArgument, "event.type: unknown event type %q", in.Event.Type)
		}
		if !json.Valid(in.Event.Payload) {
			return Preview{}, Errorf(CodeInvalidArgument, "event.payload must be a JSON object")
		}
		ev = Event{ID: "evt_preview", Type: in.Event.Type, RoomID: in.Event.RoomID, CreatedAt: o.svc.now(), Payload: in.Event.Payload}
	default:
		typ := in.EventType
		if typ == "" {
			typ = EventMessageSend
			if !e.Wants(typ) {
				typ = e.EventTypes[0]
			}
		}
		var ok bool
		if ev, ok = o.relay.SampleEvent(typ); !ok {
			return Preview{}, Errorf(CodeInvalidArgument, "event_type: unknown event type %q", typ)
		}
	}
	// The preview runs on the redacted URL: it shows the parameters the request adds.
	p, err := o.relay.Preview(e.Format, e.Template, e.URL, &ev)
	if err != nil {
		return Preview{}, &Error{Code: CodeInvalidArgument, Message: "cannot render this event: " + err.Error(), Err: err}
	}
	p.EventID, p.EventType = ev.ID, ev.Type
	p.URL = strings.ReplaceAll(p.URL, "%2A%2A%2A%2A", "****")
	return p, nil
}
