package delivery

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/signing"
)

// request is what one attempt sends: the exact body bytes and the headers signing them.
type request struct {
	body   []byte
	header http.Header
	url    string // where to send it; "" for the endpoint's URL
}

// build renders ev for ep in its format, signed with every live secret, at attempt time now.
func build(ep *endpoint, ev *chat.Event, members []chat.Member, appID string, now time.Time) (request, error) {
	if chat.IsChatTarget(ep.Format) {
		return buildChat(ep, ev)
	}
	h := ep.requestHeader(3)
	switch ep.Format {
	case chat.FormatSendbird:
		body, err := sendbirdBody(ev, members, ep.IncludeMembers, appID)
		if err != nil {
			return request{}, err
		}
		for _, s := range ep.secrets {
			sig := signing.SendbirdSignature(s, body)
			h.Add(signing.HeaderSendbirdSignature, sig)
			h.Add(signing.HeaderSignature, sig)
		}
		return request{body: body, header: h}, nil
	case chat.FormatRBM:
		data, err := rbmEvent(ev, ep.AgentID)
		if err != nil {
			return request{}, err
		}
		env := map[string]any{
			"message": map[string]any{
				"data":         base64.StdEncoding.EncodeToString(data),
				"messageId":    ev.ID,
				"message_id":   ev.ID,
				"publishTime":  now.UTC().Format(time.RFC3339Nano),
				"publish_time": now.UTC().Format(time.RFC3339Nano),
				"attributes":   map[string]string{"event_type": ev.Type, "room_id": ev.RoomID},
			},
			"subscription": "projects/chathooks/subscriptions/" + ep.ID,
		}
		body, err := json.Marshal(env)
		if err != nil {
			return request{}, fmt.Errorf("delivery: encode rbm envelope: %w", err)
		}
		for _, s := range ep.secrets {
			h.Add(signing.HeaderRBMSignature, signing.RBMSignature(s, data))
		}
		return request{body: body, header: h}, nil
	default:
		body, err := standardBody(ev)
		if err != nil {
			return request{}, err
		}
		signing.SetStandardHeaders(h, ep.keys, ev.ID, now, body)
		return request{body: body, header: h}, nil
	}
}

// standardBody is the Standard Webhooks body, {"type", "timestamp", "data"}, with the
// event's payload as data. The payload is appended as stored: chathooks encoded it (with
// encoding/json) when it wrote the event, and having encoding/json validate and compact
// it again for every attempt to every endpoint was a measurable share of a delivery's CPU.
// The bytes are the same as encoding/json's.
func standardBody(ev *chat.Event) ([]byte, error) {
	typ, err := json.Marshal(ev.Type)
	if err != nil {
		return nil, fmt.Errorf("delivery: encode standard body: %w", err)
	}
	data := []byte(ev.Payload)
	if len(data) == 0 {
		data = []byte("null")
	}
	b := make([]byte, 0, len(data)+len(typ)+64)
	b = append(b, `{"type":`...)
	b = append(b, typ...)
	b = append(b, `,"timestamp":"`...)
	b = ev.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}

// rbmEvent is the JSON carried base64-encoded in the Pub/Sub envelope: RBM-shaped for
// messages and read receipts in a room with an agent, the chathooks event otherwise.
func rbmEvent(ev *chat.Event, agentID string) ([]byte, error) {
	if agentID == "" && len(ev.Agents) > 0 {
		agentID = ev.Agents[0]
	}
	var out any
	switch {
	case agentID != "" && (ev.Type == chat.EventMessageSend || ev.Type == chat.EventMessageUpdate):
		var p chat.MessagePayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return nil, fmt.Errorf("delivery: decode message payload: %w", err)
		}
		out = map[string]any{
			"agentId": agentID, "messageId": p.Message.ID, "sendTime": p.Message.CreatedAt.UTC().Format(time.RFC3339Nano),
			"text": p.Message.Text, "senderId": p.Message.Sender.ID, "eventId": ev.ID, "conversationId": ev.RoomID,
		}
	case agentID != "" && ev.Type == chat.EventMessageRead:
		var p chat.ReadPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return nil, fmt.Errorf("delivery: decode read payload: %w", err)
		}
		out = map[string]any{
			"agentId": agentID, "eventType": "READ", "eventId": ev.ID, "messageId": p.MessageID,
			"sendTime": p.ReadAt.UTC().Format(time.RFC3339Nano), "senderId": p.User.ID, "conversationId": ev.RoomID,
		}
	default:
		m := map[string]any{
			"eventType": ev.Type, "eventId": ev.ID, "sendTime": ev.CreatedAt.UTC().Format(time.RFC3339Nano), "data": ev.Payload,
		}
		if agentID != "" {
			m["agentId"] = agentID
		}
		if ev.RoomID != "" {
			m["conversationId"] = ev.RoomID
		}
		out = m
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("delivery: encode rbm event: %w", err)
	}
	return b, nil
}
