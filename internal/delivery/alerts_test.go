package delivery_test

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	engine "github.com/chathooks/chathooks/internal/delivery"
)

// roomMessages returns a room's messages, oldest first.
func roomMessages(t *testing.T, s *apptest.Server, room string) []chat.Message {
	t.Helper()
	var l struct{ Items []chat.Message }
	s.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages?limit=200", nil).JSON(t, &l)
	return l.Items
}

// signedEvents returns the standard-format requests rc got, each verified with secret, as
// {type, data}.
func signedEvents(t *testing.T, rc *receiver, secret string) []map[string]any {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i, h := range rc.all() {
		if err := wh.VerifyIgnoringTimestamp(h.Body, h.Header); err != nil {
			t.Fatalf("request %d is not signed with the endpoint's secret: %v", i, err)
		}
		out = append(out, decode(t, h.Body))
	}
	return out
}

// setAlertsRoom makes room the workspace's alerts room.
func setAlertsRoom(t *testing.T, s *apptest.Server, room string) {
	t.Helper()
	var v chat.SettingsView
	s.Must(http.StatusOK, "PATCH", "/api/v1/settings", map[string]any{"alerts_room_id": room}).JSON(t, &v)
	if v.AlertsRoomID != room || v.UpdatedAt == nil {
		t.Fatalf("settings: %+v", v)
	}
	s.Must(http.StatusOK, "GET", "/api/v1/settings", nil).JSON(t, &v)
	if v.AlertsRoomID != room {
		t.Fatalf("settings read back: %+v", v)
	}
	if r := s.Do("PATCH", "/api/v1/settings", map[string]any{"alerts_room_id": "no-such-room"}); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_argument" {
		t.Fatalf("an unknown alerts room: %d %s", r.Status, r.Body)
	}
}

// startWithAlertsRoom starts a hooked server (fake clock) with user u in room r and the
// room alerts named as the alerts room.
func startWithAlertsRoom(t *testing.T) *apptest.Server {
	t.Helper()
	s, _ := startHooked(t)
	mkUser(t, s, "u", "human")
	mkRoom(t, s, "r", "u")
	mkRoom(t, s, "alerts")
	setAlertsRoom(t, s, "alerts")
	return s
}

// An endpoint whose receiver fails opens its circuit breaker: the alerts room gets one
// message, posted by the system sender with a link to the endpoint in the console, and an
// endpoint subscribed to endpoint:failing gets it, signed. When the receiver is back and
// the breaker closes, one more message and endpoint:recovered. The failing endpoint, which
// takes every room's messages, never gets the alerts about itself. Fake clock.
func TestAlertsBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	s := startWithAlertsRoom(t)
	var down atomic.Bool
	down.Store(true)
	x := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	xep := createEndpoint(t, s, map[string]any{"url": x.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": 8})
	y := newReceiver(t, nil)
	yep := createEndpoint(t, s, map[string]any{"url": y.URL, "event_types": []string{chat.EventEndpointFailing, chat.EventEndpointRecovered}})
	for range engine.BreakerThreshold {
		send(t, s, "r", "u", "m")
	}
	apptest.Eventually(t, 10*time.Second, "the failing alert", func() bool { return len(roomMessages(t, s, "alerts")) == 1 })
	alert := roomMessages(t, s, "alerts")[0]
	link := s.URL + "/endpoints/" + xep.ID
	if alert.Sender != chat.AlertSender || !strings.Contains(alert.Text, "is failing") || !strings.Contains(alert.Text, "HTTP 503") ||
		!strings.Contains(alert.Text, "("+link+")") || !strings.Contains(alert.HTML, `href="`+link+`"`) {
		t.Fatalf("failing alert: %+v", alert)
	}
	apptest.Eventually(t, 10*time.Second, "endpoint:failing at the subscriber", func() bool { return y.count() == 1 })
	ev := signedEvents(t, y, yep.Secret)[0]
	data, _ := ev["data"].(map[string]any)
	ep, _ := data["endpoint"].(map[string]any)
	if ev["type"] != chat.EventEndpointFailing || ep["id"] != xep.ID || data["console_url"] != link || data["last_status_code"] != float64(503) {
		t.Fatalf("endpoint:failing: %v", ev)
	}

	down.Store(false)
	advance(s, engine.BreakerCooldown+6*time.Second) // past the breaker's cool-down: the probe succeeds
	apptest.Eventually(t, 10*time.Second, "the recovered alert", func() bool { return len(roomMessages(t, s, "alerts")) == 2 })
	if m := roomMessages(t, s, "alerts")[1]; m.Sender != chat.AlertSender || !strings.Contains(m.Text, "recovered") {
		t.Fatalf("recovered alert: %+v", m)
	}
	apptest.Eventually(t, 10*time.Second, "endpoint:recovered at the subscriber", func() bool { return y.count() == 2 })
	if ev := signedEvents(t, y, yep.Secret)[1]; ev["type"] != chat.EventEndpointRecovered {
		t.Fatalf("second operational event: %v", ev)
	}
	waitStatus(t, s, xep.ID, chat.EventMessageSend, chat.DeliverySucceeded, engine.BreakerThreshold)
	if n := len(roomMessages(t, s, "alerts")); n != 2 {
		t.Fatalf("%d alerts, want 2", n)
	}
	for i, h := range x.all() {
		data, _ := decode(t, h.Body)["data"].(map[string]any)
		if room, _ := data["room"].(map[string]any); room["id"] != "r" {
			t.Fatalf("request %d to the failing endpoint is about room %v: %s", i, room["id"], h.Body)
		}
	}
}

// A delivery whose retries are spent, an endpoint answering 410 and one disabled by hand
// are each announced once: delivery:dead (with a link to the delivery) and
// endpoint:disabled (reason gone, then manual), signed, and a message each in the alerts
// room.
func TestAlertsDeadGoneAndDisabled(t *testing.T) {
	t.Parallel()
	s := startWithAlertsRoom(t)
	y := newReceiver(t, nil)
	yep := createEndpoint(t, s, map[string]any{"url": y.URL, "event_types": []string{chat.EventDeliveryDead, chat.EventEndpointDisabled}})
	failing := newReceiver(t, status(http.StatusInternalServerError))
	dep := createEndpoint(t, s, map[string]any{"url": failing.URL, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"r"},
		"retry": map[string]any{"max_attempts": 1}})
	gone := newReceiver(t, status(http.StatusGone))
	gep := createEndpoint(t, s, map[string]any{"url": gone.URL, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"r"}})
	send(t, s, "r", "u", "hello")
	apptest.Eventually(t, 10*time.Second, "two operational events", func() bool { return y.count() == 2 })
	mep := createEndpoint(t, s, map[string]any{"url": failing.URL, "event_types": []string{chat.EventMessageSend}, "description": "Manual"})
	s.Must(http.StatusOK, "PATCH", "/api/v1/endpoints/"+mep.ID, map[string]any{"status": "disabled"})
	apptest.Eventually(t, 10*time.Second, "the manual disable", func() bool { return y.count() == 3 })

	dead := deliveries(t, s, dep.ID, chat.DeliveryDead)
	if len(dead) != 1 {
		t.Fatalf("dead deliveries: %+v", dead)
	}
	byType := map[string]map[string]any{}
	for _, ev := range signedEvents(t, y, yep.Secret) {
		data, _ := ev["data"].(map[string]any)
		ep, _ := data["endpoint"].(map[string]any)
		byType[ev["type"].(string)+" "+ep["id"].(string)] = data
	}
	d := byType[chat.EventDeliveryDead+" "+dep.ID]
	dl, _ := d["delivery"].(map[string]any)
	if d == nil || dl["id"] != dead[0].ID || dl["event_type"] != chat.EventMessageSend || dl["attempt_count"] != float64(1) ||
		d["console_url"] != s.URL+"/endpoints/"+dep.ID+"?delivery="+dead[0].ID {
		t.Fatalf("delivery:dead: %v", byType)
	}
	if g := byType[chat.EventEndpointDisabled+" "+gep.ID]; g == nil || g["reason"] != chat.ReasonGone || g["last_status_code"] != float64(410) {
		t.Fatalf("endpoint:disabled by 410: %v", byType)
	}
	if m := byType[chat.EventEndpointDisabled+" "+mep.ID]; m == nil || m["reason"] != chat.ReasonManual {
		t.Fatalf("endpoint:disabled by hand: %v", byType)
	}
	var texts []string
	for _, m := range roomMessages(t, s, "alerts") {
		if m.Sender != chat.AlertSender {
			t.Fatalf("alert sender: %+v", m.Sender)
		}
		texts = append(texts, m.Text)
	}
	if len(texts) != 3 || !slices.ContainsFunc(texts, func(x string) bool {
		return strings.Contains(x, "died after its only attempt") && strings.Contains(x, "?delivery="+dead[0].ID+")")
	}) || !slices.ContainsFunc(texts, func(x string) bool { return strings.Contains(x, "410 Gone") }) ||
		!slices.ContainsFunc(texts, func(x string) bool { return strings.Contains(x, "**Manual**") && strings.Contains(x, "by hand") }) {
		t.Fatalf("alerts: %q", texts)
	}
	var v chat.EndpointView
	s.Must(http.StatusOK, "GET", "/api/v1/endpoints/"+gep.ID, nil).JSON(t, &v)
	if v.Status != chat.EndpointDisabled {
		t.Fatalf("the 410 endpoint is %s", v.Status)
	}
}

// The alerts room is relayed to a chat tool that is down too: the relay gets the alerts
// about the other endpoint, fails them until they die, and its own breaker opens. That is
// announced once, and not to the relay itself; the dead deliveries of alerts are not
// announced. Everything comes to rest with a bounded number of alerts however far the
// clock runs. Fake clock, run fast.
func TestAlertsRelayOfTheAlertsRoomDoesNotStorm(t *testing.T) {
	t.Parallel()
	s := startWithAlertsRoom(t)
	x := newReceiver(t, status(http.StatusServiceUnavailable))
	xep := createEndpoint(t, s, map[string]any{"url": x.URL, "event_types": []string{chat.EventMessageSend}, "room_ids": []string{"r"},
		"max_in_flight": 8, "retry": map[string]any{"max_attempts": 2, "max_interval_s": 60}})
	relay := newReceiver(t, status(http.StatusServiceUnavailable))
	rep := createEndpoint(t, s, map[string]any{"url": relay.URL + "/services/T/B/X", "format": chat.TargetSlack, "room_ids": []string{"alerts"},
		"event_types": []string{chat.EventMessageSend}, "retry": map[string]any{"max_attempts": 2, "max_interval_s": 60}})
	for range engine.BreakerThreshold {
		send(t, s, "r", "u", "m")
	}
	final := func(id string) bool {
		for _, d := range deliveries(t, s, id, "") {
			if d.Status == chat.DeliveryPending || d.Status == chat.DeliveryFailed {
				return false
			}
		}
		return true
	}
	// One alert that x is failing, one per dead delivery of x, one that the relay is failing.
	const want = 1 + 5 + 1
	apptest.Eventually(t, 30*time.Second, "every delivery dead and every alert posted", func() bool {
		advance(s, time.Minute)
		return final(xep.ID) && final(rep.ID) && len(roomMessages(t, s, "alerts")) >= want
	})
	var failing []string
	for _, m := range roomMessages(t, s, "alerts") {
		if strings.Contains(m.Text, "is failing") {
			failing = append(failing, m.Text)
		}
	}
	if n := len(roomMessages(t, s, "alerts")); n != want || len(failing) != 2 {
		for _, m := range roomMessages(t, s, "alerts") {
			t.Log(m.Text)
		}
		t.Fatalf("%d alerts (%d failing), want %d (2 failing)", n, len(failing), want)
	}
	for i, h := range relay.all() {
		if strings.Contains(string(h.Body), rep.ID) {
			t.Fatalf("request %d to the relay is an alert about itself: %s", i, h.Body)
		}
	}
	if n := len(deliveries(t, s, rep.ID, "")); n != want-1 {
		t.Fatalf("the relay got %d alerts, want %d", n, want-1)
	}
}
