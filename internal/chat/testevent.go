package chat

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// TestEventIDPrefix starts the id of every test event. Test events belong to no room and
// are delivered to the one endpoint they were sent to: replay skips them.
const TestEventIDPrefix = "evt_test_"

// IsTestEvent reports whether an event was written by SendTestEvent.
func IsTestEvent(id string) bool { return strings.HasPrefix(id, TestEventIDPrefix) }

// ExamplePayload returns an example of the data of an event type (nil for an unknown type):
// what the event catalog shows and what a test event carries.
func ExamplePayload(eventType string, now time.Time) json.RawMessage {
	now = now.UTC().Truncate(time.Second)
	room := RoomRef{ID: "room_example", Name: "Example room", MemberCount: 2}
	alice := UserRef{ID: "alice", Name: "Alice", Kind: KindHuman, Alias: "al"}
	bot := UserRef{ID: "helpdesk", Name: "Helpdesk bot", Kind: KindAgent}
	msg := Message{
		ID: "msg_example", RoomID: room.ID, ThreadID: "msg_example",
		Sender: Sender{Type: SenderUser, ID: alice.ID, Name: alice.Name},
		Text:   "deploy **done** @helpdesk", Format: "markdown",
		HTML:     `<p>deploy <strong>done</strong> <span class="mention" data-user-id="helpdesk">@helpdesk</span></p>`,
		Mentions: []Mention{{Type: "user", UserID: bot.ID}}, CreatedAt: now,
	}
	switch eventType {
	case EventRoomCreate, EventRoomChanged, EventRoomRemove:
		return mustJSON(RoomPayload{Room: room, Members: []UserRef{alice, bot}})
	case EventRoomInvite:
		return mustJSON(MembershipPayload{Room: room, Users: []UserRef{bot}, Inviter: &alice})
	case EventRoomJoin, EventRoomLeave:
		return mustJSON(MembershipPayload{Room: room, Users: []UserRef{bot}})
	case EventMessageSend:
		return mustJSON(MessagePayload{Room: room, Message: msg})
	case EventMessageUpdate:
		m := msg
		m.UpdatedAt = &now
		return mustJSON(MessagePayload{Room: room, Message: m})
	case EventMessageDelete:
		return mustJSON(MessageDeletePayload{Room: room, MessageID: msg.ID, Message: msg})
	case EventMessageRead:
		return mustJSON(ReadPayload{Room: room, User: alice, MessageID: msg.ID, ReadAt: now})
	case EventUserBlock, EventUserUnblock:
		return mustJSON(BlockPayload{Blocker: alice, Blocked: bot})
	}
	if p := operationalExample(eventType, now); p != nil {
		return mustJSON(p)
	}
	return nil
}

// SendTestEvent writes an example event of eventType (default message_send) and a delivery
// of it to this one endpoint, through the ordinary delivery path: the endpoint receives it
// formatted and signed like any other, and it shows in the endpoint's delivery log. The
// endpoint's filter is not consulted (a test is asked for explicitly); a disabled endpoint
// refuses it.
func (o *Deliveries) SendTestEvent(ctx context.Context, endpointID, eventType string) (Delivery, error) {
	if eventType == "" {
		eventType = EventMessageSend
	}
	if !KnownEventType(eventType) {
		return Delivery{}, Errorf(CodeInvalidArgument, "event_type %q is not a known event type", eventType)
	}
	now := o.svc.now()
	e := Event{ID: ids.New(strings.TrimSuffix(TestEventIDPrefix, "_"), now), Type: eventType, CreatedAt: now, Payload: ExamplePayload(eventType, now)}
	var d Delivery
	var version int64
	err := o.svc.store.Write(ctx, func(tx Tx) error {
		ep, err := tx.GetEndpoint(endpointID)
		if err != nil {
			return err
		}
		if ep.Status == EndpointDisabled {
			return Errorf(CodeFailedPrecond, "endpoint %q is disabled: enable it to send a test event", endpointID)
		}
		if ep.AgentID != "" {
			e.Agents = []string{ep.AgentID}
		}
		if err := tx.AppendEvent(&e); err != nil {
			return err
		}
		d = newDeliveries(&e, []string{endpointID})[0]
		if o.svc.dispatch == nil {
			return tx.InsertDeliveries([]Delivery{d})
		}
		r, err := tx.EndpointRoutes()
		if err != nil {
			return err
		}
		version = r.Version
		return tx.InsertDeliveriesLeased([]Delivery{d}, o.svc.lease())
	})
	if err != nil {
		return Delivery{}, err
	}
	if o.svc.dispatch == nil {
		o.due()
	} else {
		o.svc.handOver(Handover{Deliveries: []Delivery{d}, Events: []Event{e}, RoutesVersion: version})
	}
	return d, nil
}
