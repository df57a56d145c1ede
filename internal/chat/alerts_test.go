package chat_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
)

// alertsFixture is a service on a real SQLite store with a fake clock, two endpoints (x,
// the one that fails; watch, subscribed to every operational event) and an alerts room.
type alertsFixture struct {
	t     *testing.T
	st    chat.Store
	svc   *chat.Service
	clk   *clock.Fake
	al    *chat.Alerter
	after int64 // events already looked at
}

func newAlertsFixture(t *testing.T) *alertsFixture {
	t.Helper()
	ctx := context.Background()
	st := openSQLite(t)
	clk := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	svc := chat.NewService(chat.Config{Store: st, Clock: clk, Renderer: plainRenderer{}})
	f := &alertsFixture{t: t, st: st, svc: svc, clk: clk, al: chat.NewAlerter(svc, func() string { return "http://console.test" })}
	for _, ep := range []chat.Endpoint{
		{ID: "x", URL: "https://hooks.example.com/x?token=secret", Description: "Ops *bot*", EventTypes: []string{"*"}},
		{ID: "watch", URL: "https://hooks.example.com/watch", EventTypes: chat.OperationalEventTypes},
	} {
		ep.Format, ep.SecretSealed, ep.Status, ep.CreatedAt, ep.UpdatedAt = chat.FormatStandard, "sealed", chat.EndpointActive, clk.Now(), clk.Now()
		if err := st.Write(ctx, func(tx chat.Tx) error { return tx.InsertEndpoint(ep) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateRoom(ctx, chat.CreateRoom{ID: "alerts", Name: "Alerts"}); err != nil {
		t.Fatal(err)
	}
	room := "alerts"
	if _, err := svc.UpdateSettings(ctx, chat.SettingsPatch{AlertsRoomID: &room}); err != nil {
		t.Fatal(err)
	}
	f.events() // skip the room's own events
	return f
}

// run hands changes to the alerter and waits until it wrote them.
func (f *alertsFixture) run(cs ...chat.EndpointChange) {
	f.al.Start()
	for _, c := range cs {
		f.al.Notify(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.al.Stop(ctx)
	if ctx.Err() != nil {
		f.t.Fatal("the alerter did not finish")
	}
}

// announced is one announcement: its event, where it is delivered, and its room message.
type announced struct {
	Type      string
	Payload   map[string]any
	To        []string // endpoints it has deliveries to
	AlertText string   // the alerts room message written with it ("" if none)
	MessageTo []string // endpoints the message has deliveries to
}

// events returns the announcements written since the last call.
func (f *alertsFixture) events() []announced {
	f.t.Helper()
	ctx := context.Background()
	evs, last, err := f.st.Events(ctx, f.after, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(evs) > 0 {
		f.after = last
	}
	var out []announced
	for _, e := range evs {
		switch {
		case chat.IsOperational(e.Type):
			a := announced{Type: e.Type, To: f.deliveredTo(e.ID)}
			if err := json.Unmarshal(e.Payload, &a.Payload); err != nil {
				f.t.Fatal(err)
			}
			out = append(out, a)
		case e.Type == chat.EventMessageSend && e.RoomID == "alerts":
			var p chat.MessagePayload
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				f.t.Fatal(err)
			}
			if p.Message.Sender != chat.AlertSender {
				f.t.Fatalf("alert message sent as %+v", p.Message.Sender)
			}
			if len(out) == 0 {
				f.t.Fatalf("an alert message without its event: %q", p.Message.Text)
			}
			out[len(out)-1].AlertText = p.Message.Text
			out[len(out)-1].MessageTo = f.deliveredTo(e.ID)
		}
	}
	return out
}

// deliveredTo lists the endpoints with a delivery of event id.
func (f *alertsFixture) deliveredTo(eventID string) []string {
	var out []string
	for _, ep := range []string{"x", "watch"} {
		ds, err := f.st.ListDeliveries(context.Background(), chat.DeliveryQuery{EndpointID: ep, Limit: 1000})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, d := range ds {
			if d.EventID == eventID {
				out = append(out, ep)
			}
		}
	}
	return out
}

func change(kind string, code int) chat.EndpointChange {
	return chat.EndpointChange{Kind: kind, EndpointID: "x", StatusCode: code, Error: "Service Unavailable"}
}

// Each change of an endpoint's health is announced once: an event that goes to the
// endpoints subscribed to it (never to the endpoint it is about) and one message in the
// alerts room, with a link to the endpoint in the console. Repeats and successes of a
// healthy endpoint announce nothing.
func TestAlertsOncePerStateChange(t *testing.T) {
	t.Parallel()
	f := newAlertsFixture(t)
	f.run(change(chat.ChangeOK, 200)) // a first success: healthy already
	if got := f.events(); len(got) != 0 {
		t.Fatalf("a success of a healthy endpoint was announced: %+v", got)
	}
	f.run(change(chat.ChangeFailing, 503), change(chat.ChangeFailing, 503))
	got := f.events()
	if len(got) != 1 || got[0].Type != chat.EventEndpointFailing {
		t.Fatalf("failing twice: %+v", got)
	}
	a := got[0]
	ep, _ := a.Payload["endpoint"].(map[string]any)
	if ep["id"] != "x" || ep["url"] != "https://hooks.example.com/x" || a.Payload["reason"] != chat.ReasonCircuitOpen ||
		a.Payload["last_status_code"] != float64(503) || a.Payload["console_url"] != "http://console.test/endpoints/x" {
		t.Fatalf("failing payload: %+v", a.Payload)
	}
	if strings.Join(a.To, ",") != "watch" || len(a.MessageTo) != 0 {
		t.Fatalf("the announcement about x went to %v, its message to %v", a.To, a.MessageTo)
	}
	for _, want := range []string{"is failing", `**Ops \*bot\*** (` + "`x`)", "HTTP 503", "(http://console.test/endpoints/x)"} {
		if !strings.Contains(a.AlertText, want) {
			t.Errorf("alert %q lacks %q", a.AlertText, want)
		}
	}
	f.run(change(chat.ChangeOK, 200), change(chat.ChangeOK, 200))
	got = f.events()
	if len(got) != 1 || got[0].Type != chat.EventEndpointRecovered || !strings.Contains(got[0].AlertText, "recovered") {
		t.Fatalf("recovered twice: %+v", got)
	}
	f.run(change(chat.ChangeGone, 410), change(chat.ChangeGone, 410))
	got = f.events()
	if len(got) != 1 || got[0].Type != chat.EventEndpointDisabled || got[0].Payload["reason"] != chat.ReasonGone ||
		!strings.Contains(got[0].AlertText, "410 Gone") {
		t.Fatalf("gone twice: %+v", got)
	}
	// A new alerter (another node, a restart) reads the stored state: no repeat.
	f.al = chat.NewAlerter(f.svc, func() string { return "http://console.test/" })
	f.run(change(chat.ChangeGone, 410))
	if got := f.events(); len(got) != 0 {
		t.Fatalf("a restart announced again: %+v", got)
	}
}

// Dead deliveries: each is announced with a link to the delivery, at most
// DeadAlertsPerMinute per endpoint per minute; the next announcement after the limit
// counts those left out. A dead delivery of an announcement is not announced.
func TestAlertsDeadDeliveriesAreLimited(t *testing.T) {
	t.Parallel()
	f := newAlertsFixture(t)
	dead := func(id string) chat.EndpointChange {
		c := change(chat.ChangeDead, 500)
		c.Delivery = chat.DeliveryRef{ID: id, EventID: "evt_" + id, EventType: chat.EventRoomCreate, AttemptCount: 8}
		return c
	}
	var cs []chat.EndpointChange
	for i := range chat.DeadAlertsPerMinute + 3 {
		cs = append(cs, dead("d"+string(rune('a'+i))))
	}
	f.run(cs...)
	got := f.events()
	if len(got) != chat.DeadAlertsPerMinute {
		t.Fatalf("%d dead deliveries announced in a minute, want %d", len(got), chat.DeadAlertsPerMinute)
	}
	first := got[0]
	d, _ := first.Payload["delivery"].(map[string]any)
	if first.Type != chat.EventDeliveryDead || d["id"] != "da" || d["attempt_count"] != float64(8) ||
		first.Payload["console_url"] != "http://console.test/endpoints/x?delivery=da" || strings.Join(first.To, ",") != "watch" {
		t.Fatalf("dead announcement: %+v", first)
	}
	if !strings.Contains(first.AlertText, "died after 8 attempts") || !strings.Contains(first.AlertText, "(http://console.test/endpoints/x?delivery=da)") {
		t.Fatalf("dead alert: %q", first.AlertText)
	}
	f.clk.Advance(time.Minute)
	f.run(dead("dz"))
	got = f.events()
	if len(got) != 1 || got[0].Payload["suppressed"] != float64(3) || !strings.Contains(got[0].AlertText, "3 more died") {
		t.Fatalf("after the minute: %+v", got)
	}

	// The dead delivery of an operational event, or of an alert message, is not announced.
	evs, _, err := f.st.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var alertMsg, opEvent chat.Event
	for _, e := range evs {
		if e.Type == chat.EventMessageSend && alertMsg.ID == "" {
			alertMsg = e
		}
		if e.Type == chat.EventDeliveryDead && opEvent.ID == "" {
			opEvent = e
		}
	}
	f.clk.Advance(time.Minute)
	c1, c2 := dead("m1"), dead("o1")
	c1.Delivery.EventID, c1.Delivery.EventType = alertMsg.ID, alertMsg.Type // read from the store
	c2.Delivery.EventID, c2.Delivery.EventType, c2.Event = opEvent.ID, opEvent.Type, &opEvent
	f.run(c1, c2)
	if got := f.events(); len(got) != 0 {
		t.Fatalf("dead announcements were announced: %+v", got)
	}
}

// Without an alerts room, announcements are events only; an alerts room deleted later
// does not stop them either.
func TestAlertsWithoutRoom(t *testing.T) {
	t.Parallel()
	f := newAlertsFixture(t)
	if err := f.svc.DeleteRoom(context.Background(), "alerts"); err != nil {
		t.Fatal(err)
	}
	f.events()
	f.run(change(chat.ChangeFailing, 503))
	got := f.events()
	if len(got) != 1 || got[0].AlertText != "" || strings.Join(got[0].To, ",") != "watch" {
		t.Fatalf("with the alerts room deleted: %+v", got)
	}
	none := ""
	if _, err := f.svc.UpdateSettings(context.Background(), chat.SettingsPatch{AlertsRoomID: &none}); err != nil {
		t.Fatal(err)
	}
	f.run(change(chat.ChangeOK, 200))
	if got := f.events(); len(got) != 1 || got[0].Type != chat.EventEndpointRecovered || got[0].AlertText != "" {
		t.Fatalf("without an alerts room: %+v", got)
	}
	missing := "nope"
	if _, err := f.svc.UpdateSettings(context.Background(), chat.SettingsPatch{AlertsRoomID: &missing}); chat.ErrorCode(err) != chat.CodeInvalidArgument {
		t.Fatalf("an unknown alerts room: %v", err)
	}
}
