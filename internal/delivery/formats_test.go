package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

func TestStandardFormatRetryAfter500ThenSuccess(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("boom " + strings.Repeat("x", 2000)))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL + "/hook", "event_types": []string{chat.EventMessageSend}, "format": "standard"})
	if ep.Status != chat.EndpointActive || !strings.HasPrefix(ep.Secret, "whsec_") || ep.MaxInFlight != 16 || ep.TimeoutMS != 5000 {
		t.Fatalf("endpoint %+v", ep)
	}
	mkUser(t, s, "alice", "human")
	mkRoom(t, s, "r1", "alice")
	m := send(t, s, "r1", "alice", "hello *world*")

	failed := waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliveryFailed, 1)[0]
	d := delivery(t, s, failed.ID)
	if d.AttemptCount != 1 || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 500 || len(d.Attempts[0].ResponseExcerpt) != 1024 ||
		!strings.HasPrefix(d.Attempts[0].ResponseExcerpt, "boom ") || d.NextAttemptAt == nil {
		t.Fatalf("after a 500: %+v", d)
	}
	// ≈5 s ± 20 %.
	if wait := d.NextAttemptAt.Sub(d.Attempts[0].At); wait < 4*time.Second || wait > 6*time.Second {
		t.Fatalf("next attempt in %v, want 5s ± 20%%", wait)
	}
	advance(s, 6*time.Second)
	ok := waitStatus(t, s, ep.ID, chat.EventMessageSend, chat.DeliverySucceeded, 1)[0]
	d = delivery(t, s, ok.ID)
	if d.AttemptCount != 2 || len(d.Attempts) != 2 || d.Attempts[1].StatusCode != 204 || d.NextAttemptAt != nil {
		t.Fatalf("after success: %+v", d)
	}

	// Every request for the message carries the same id, verifies with the official library, and has the documented body.
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range rc.all() {
		if err := wh.VerifyIgnoringTimestamp(h.Body, h.Header); err != nil {
			t.Fatalf("standard webhooks library rejects %s: %v", h.Body, err)
		}
		if ts := h.Header.Get("webhook-timestamp"); ts != strconv.FormatInt(s.Clock.Now().Unix(), 10) && ts != strconv.FormatInt(s.Clock.Now().Add(-6*time.Second).Unix(), 10) {
			t.Fatalf("webhook-timestamp %s is not the attempt time", ts)
		}
		b := decode(t, h.Body)
		if b["type"] == chat.EventMessageSend {
			ids = append(ids, h.Header.Get("webhook-id"))
			data := b["data"].(map[string]any)
			if data["message"].(map[string]any)["id"] != m.ID || b["timestamp"] == "" || len(b) != 3 {
				t.Fatalf("body %s", h.Body)
			}
		}
	}
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] != d.EventID {
		t.Fatalf("webhook-ids %v, want twice the event id %s", ids, d.EventID)
	}
	// The first attempt was in time for the library's 5-minute tolerance check too.
	s.Clock.Set(time.Now()) // only the verifier reads the wall clock
	first := rc.hit(0)
	if err := wh.VerifyIgnoringTimestamp(first.Body, first.Header); err != nil {
		t.Fatal(err)
	}
}

func TestStandardSpecVector(t *testing.T) {
	// The published test vector (delivery-anchors.md 1.3) through the library, as a check
	// that the verifier used above is the real thing.
	wh, err := standardwebhooks.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := wh.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("library signs %s", sig)
	}
}

func TestTimeoutThenSuccess(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request, _ []byte) {
		if n == 0 {
			<-r.Context().Done() // never answers in time
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}, "timeout_ms": 200})
	mkRoom(t, s, "r1")
	f := waitStatus(t, s, ep.ID, "", chat.DeliveryFailed, 1)[0]
	if d := delivery(t, s, f.ID); !strings.Contains(d.Attempts[0].Error, "timeout") || d.Attempts[0].StatusCode != 0 {
		t.Fatalf("attempt %+v", d.Attempts)
	}
	advance(s, 7*time.Second)
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)
	if rc.count() != 2 || rc.hit(0).Header.Get("webhook-id") != rc.hit(1).Header.Get("webhook-id") {
		t.Fatalf("hits %d", rc.count())
	}
}

func TestSendbirdFormatDeadAndManualRetry(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, status(http.StatusBadGateway))
	ep := createEndpoint(t, s, map[string]any{
		"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "format": "sendbird", "include_members": true,
		"headers": map[string]string{"X-Custom": "yes"},
	})
	mkUser(t, s, "jeff", "human")
	mkUser(t, s, "bot", "agent")
	mkRoom(t, s, "r1", "jeff", "bot")
	m := send(t, s, "r1", "jeff", "hi")

	// Sendbird: 3 attempts in all, then dead.
	waitStatus(t, s, ep.ID, "", chat.DeliveryFailed, 1)
	advance(s, 7*time.Second)
	apptest.Eventually(t, 10*time.Second, "second attempt", func() bool { return rc.count() == 2 })
	waitStatus(t, s, ep.ID, "", chat.DeliveryFailed, 1)
	advance(s, 2*time.Minute)
	dead := waitStatus(t, s, ep.ID, "", chat.DeliveryDead, 1)[0]
	if d := delivery(t, s, dead.ID); d.AttemptCount != 3 || len(d.Attempts) != 3 || d.NextAttemptAt != nil {
		t.Fatalf("dead delivery %+v", d)
	}
	advance(s, time.Hour)
	if rc.count() != 3 {
		t.Fatalf("a dead delivery was attempted again: %d hits", rc.count())
	}

	// Manual retry of a dead delivery: one more attempt.
	rc.setRespond(status(http.StatusOK))
	s.Must(http.StatusOK, "POST", "/api/v1/deliveries/"+dead.ID+"/retry", nil)
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 1)

	// Wire format: signature from the doc, user-agent, category payload with members.
	for _, h := range rc.all() {
		mac := hmac.New(sha256.New, []byte(ep.Secret))
		mac.Write(h.Body)
		if got := h.Header.Get("x-sendbird-signature"); got != hex.EncodeToString(mac.Sum(nil)) {
			t.Fatalf("x-sendbird-signature %q does not match hex HMAC-SHA256 of the body", got)
		}
		if got := h.Header.Values("x-signature"); len(got) != 1 || got[0] != h.Header.Get("x-sendbird-signature") {
			t.Fatalf("x-signature %q, want the x-sendbird-signature value", got)
		}
		if h.Header.Get("User-Agent") != "SendBird" || h.Header.Get("Content-Type") != "application/json" || h.Header.Get("X-Custom") != "yes" {
			t.Fatalf("headers %v", h.Header)
		}
	}
	b := decode(t, rc.hit(3).Body)
	sender := b["sender"].(map[string]any)
	payload := b["payload"].(map[string]any)
	channel := b["channel"].(map[string]any)
	members := b["members"].([]any)
	if b["category"] != chat.EventMessageSend || sender["user_id"] != "jeff" || payload["message"] != "hi" || payload["message_id"] != m.ID ||
		channel["channel_url"] != "r1" || len(members) != 2 || b["app_id"] == "" || b["type"] != "MESG" {
		t.Fatalf("sendbird body %s", rc.hit(3).Body)
	}
}

func TestRBMVerificationHoldsEventsThenDelivers(t *testing.T) {
	t.Parallel()
	s := start(t)
	var verifyOK atomic.Bool
	var mu sync.Mutex
	var seen []map[string]any
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		m := map[string]any{}
		_ = json.Unmarshal(body, &m)
		if _, ok := m["clientToken"]; ok {
			mu.Lock()
			seen = append(seen, m)
			mu.Unlock()
			if verifyOK.Load() {
				_, _ = w.Write([]byte(m["secret"].(string)))
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mkUser(t, s, "agent1", "agent")
	mkUser(t, s, "u1", "human")
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend, chat.EventMessageRead}, "format": "rbm", "agent_id": "agent1"})
	mu.Lock()
	if ep.Status != chat.EndpointUnverified || len(seen) != 1 || seen[0]["clientToken"] != ep.Secret || seen[0]["secret"] == "" {
		t.Fatalf("after create: %+v, handshake %v", ep, seen)
	}
	mu.Unlock()
	mkRoom(t, s, "r1", "u1", "agent1")
	m := send(t, s, "r1", "u1", "hello agent")
	s.Must(http.StatusOK, "POST", "/api/v1/rooms/r1/read", map[string]any{"user_id": "u1", "message_id": m.ID})
	held := waitStatus(t, s, ep.ID, "", chat.DeliveryPending, 2)
	advance(s, time.Hour)
	if rc.count() != 1 || delivery(t, s, held[0].ID).AttemptCount != 0 {
		t.Fatalf("an unverified endpoint was sent events: %d requests", rc.count())
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+ep.ID+"/verify", nil); r.Status != http.StatusConflict {
		t.Fatalf("failed verification: %d %s", r.Status, r.Body)
	}
	verifyOK.Store(true)
	var v chat.EndpointView
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/verify", nil).JSON(t, &v)
	if v.Status != chat.EndpointActive {
		t.Fatalf("after verify: %+v", v)
	}
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 2)

	var kinds []string
	for _, h := range rc.all()[3:] {
		env := decode(t, h.Body)
		msg := env["message"].(map[string]any)
		data, err := base64.StdEncoding.DecodeString(msg["data"].(string))
		if err != nil {
			t.Fatal(err)
		}
		mac := hmac.New(sha512.New, []byte(ep.Secret))
		mac.Write(data)
		if h.Header.Get("X-Goog-Signature") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Fatalf("X-Goog-Signature does not verify")
		}
		if msg["messageId"] == "" || msg["publishTime"] == "" || env["subscription"] == "" {
			t.Fatalf("envelope %s", h.Body)
		}
		ev := decode(t, data)
		if ev["agentId"] != "agent1" || ev["senderId"] != "u1" || ev["messageId"] != m.ID || ev["sendTime"] == "" {
			t.Fatalf("rbm event %s", data)
		}
		if ev["eventType"] == "READ" {
			kinds = append(kinds, "read")
		} else if ev["text"] == "hello agent" {
			kinds = append(kinds, "text")
		}
	}
	sort.Strings(kinds)
	if strings.Join(kinds, ",") != "read,text" {
		t.Fatalf("rbm events %v", kinds)
	}
}

func TestRBMOnly200IsSuccess(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		m := map[string]any{}
		if _ = json.Unmarshal(body, &m); m["clientToken"] != nil {
			_, _ = w.Write([]byte(m["secret"].(string)))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{"*"}, "format": "rbm"})
	if ep.Status != chat.EndpointActive {
		t.Fatalf("%+v", ep)
	}
	mkRoom(t, s, "r1")
	f := waitStatus(t, s, ep.ID, "", chat.DeliveryFailed, 1)[0]
	// rbm backoff starts at 5 s (± 20 %).
	if d := delivery(t, s, f.ID); d.NextAttemptAt.Sub(d.Attempts[0].At) > 6*time.Second {
		t.Fatalf("%+v", d)
	}
}
