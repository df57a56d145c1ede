package delivery_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

func eventTypes(hs []hit) map[string]int {
	out := map[string]int{}
	for _, h := range hs {
		var b struct{ Type string }
		_ = jsonUnmarshal(h.Body, &b)
		out[b.Type]++
	}
	return out
}

func TestPrecedenceAndFilters(t *testing.T) {
	t.Parallel()
	s := start(t)
	agentA, workspace, filtered := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	mkUser(t, s, "a", "agent")
	mkUser(t, s, "b", "agent")
	mkUser(t, s, "h", "human")
	epA := createEndpoint(t, s, map[string]any{"url": agentA.URL, "event_types": []string{"*"}, "agent_id": "a"})
	epW := createEndpoint(t, s, map[string]any{"url": workspace.URL, "event_types": []string{"*"}})
	epF := createEndpoint(t, s, map[string]any{"url": filtered.URL, "event_types": []string{chat.EventMessageSend}})
	if r := s.Do("POST", "/api/v1/endpoints", map[string]any{"url": agentA.URL, "event_types": []string{"nope"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("unknown event type: %d", r.Status)
	}
	if r := s.Do("POST", "/api/v1/endpoints", map[string]any{"url": "ftp://x", "event_types": []string{"*"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("ftp URL: %d", r.Status)
	}
	if r := s.Do("POST", "/api/v1/endpoints", map[string]any{"url": agentA.URL, "event_types": []string{"*"}, "agent_id": "h"}); r.Status != http.StatusBadRequest {
		t.Fatalf("human agent_id: %d", r.Status)
	}

	mkRoom(t, s, "onlyA", "h", "a")      // concerns a, who has its own endpoint: not workspace
	mkRoom(t, s, "aAndB", "h", "a", "b") // b has none: workspace too
	mkRoom(t, s, "humans", "h")          // no agent: workspace
	send(t, s, "onlyA", "h", "1")
	send(t, s, "aAndB", "h", "2")
	send(t, s, "humans", "h", "3")

	waitStatus(t, s, epA.ID, chat.EventMessageSend, chat.DeliverySucceeded, 2) // onlyA and aAndB
	waitStatus(t, s, epW.ID, chat.EventMessageSend, chat.DeliverySucceeded, 2) // aAndB and humans
	waitStatus(t, s, epF.ID, chat.EventMessageSend, chat.DeliverySucceeded, 2) // where the workspace applies
	rooms := func(rc *receiver) string {
		var out []string
		for _, h := range rc.all() {
			var b struct {
				Type string
				Data struct{ Room struct{ ID string } }
			}
			_ = jsonUnmarshal(h.Body, &b)
			if b.Type == chat.EventMessageSend {
				out = append(out, b.Data.Room.ID)
			}
		}
		sortStrings(out)
		return strings.Join(out, ",")
	}
	if got := rooms(agentA); got != "aAndB,onlyA" {
		t.Fatalf("agent-level endpoint got messages of %s", got)
	}
	if got := rooms(workspace); got != "aAndB,humans" {
		t.Fatalf("workspace endpoint got messages of %s", got)
	}
	if got := eventTypes(filtered.all()); len(got) != 1 || got[chat.EventMessageSend] != 2 {
		t.Fatalf("filtered endpoint got %v", got)
	}
	// Disabled endpoints get no rows.
	dis := "disabled"
	s.Must(http.StatusOK, "PATCH", "/api/v1/endpoints/"+epF.ID, map[string]any{"status": dis})
	send(t, s, "humans", "h", "4")
	waitStatus(t, s, epW.ID, chat.EventMessageSend, chat.DeliverySucceeded, 3)
	if n := len(deliveries(t, s, epF.ID, "")); n != 2 {
		t.Fatalf("disabled endpoint got %d deliveries", n)
	}
}

func TestRotationBothSecretsSign(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}})
	var rot chat.EndpointView
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/rotate-secret", nil).JSON(t, &rot)
	if rot.Secret == ep.Secret || rot.PreviousExpiresAt == nil || rot.PreviousExpiresAt.Sub(s.Clock.Now()) != 24*time.Hour {
		t.Fatalf("rotated %+v", rot)
	}
	mkRoom(t, s, "r1")
	apptest.Eventually(t, 10*time.Second, "delivery", func() bool { return rc.count() == 1 })
	h := rc.hit(0)
	if n := len(strings.Fields(h.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the overlap", n)
	}
	for _, sec := range []string{ep.Secret, rot.Secret} {
		wh, _ := standardwebhooks.NewWebhook(sec)
		if err := wh.VerifyIgnoringTimestamp(h.Body, h.Header); err != nil {
			t.Fatalf("secret %s does not verify during the overlap: %v", sec[:10], err)
		}
	}
	advance(s, 25*time.Hour)
	mkRoom(t, s, "r2")
	apptest.Eventually(t, 10*time.Second, "delivery", func() bool { return rc.count() == 2 })
	h = rc.hit(1)
	old, _ := standardwebhooks.NewWebhook(ep.Secret)
	cur, _ := standardwebhooks.NewWebhook(rot.Secret)
	if old.VerifyIgnoringTimestamp(h.Body, h.Header) == nil || cur.VerifyIgnoringTimestamp(h.Body, h.Header) != nil {
		t.Fatalf("after the overlap: %s", h.Header.Get("webhook-signature"))
	}
	// Sendbird and rbm repeat their single-valued header, previous secret first.
	sb := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomRemove}, "format": "sendbird"})
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+sb.ID+"/rotate-secret", map[string]any{"secret": "new-token", "expire_old_after_s": 60})
	s.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r2", nil)
	// Found by its header, not its position: jumping the clock 25 h may expire a lease whose
	// completion was not yet written, and that delivery is then sent again (at least once).
	var sbHit *hit
	apptest.Eventually(t, 10*time.Second, "the sendbird delivery", func() bool {
		for i := range rc.count() {
			if h := rc.hit(i); h.Header.Get("X-Sendbird-Signature") != "" {
				sbHit = &h
				return true
			}
		}
		return false
	})
	if v := sbHit.Header.Values("X-Sendbird-Signature"); len(v) != 2 {
		t.Fatalf("sendbird signatures %v", v)
	}
}

func Test410DisablesAnd3xxFailsAndRetryAfter(t *testing.T) {
	t.Parallel()
	s := start(t)
	gone := newReceiver(t, status(http.StatusGone))
	redirect := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
	})
	throttled := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	capped := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ct := []string{chat.EventRoomCreate}
	epG := createEndpoint(t, s, map[string]any{"url": gone.URL, "event_types": ct})
	epR := createEndpoint(t, s, map[string]any{"url": redirect.URL, "event_types": ct})
	epT := createEndpoint(t, s, map[string]any{"url": throttled.URL, "event_types": ct})
	epC := createEndpoint(t, s, map[string]any{"url": capped.URL, "event_types": ct})
	mkRoom(t, s, "r1")

	waitStatus(t, s, epG.ID, "", chat.DeliveryDead, 1)
	var v chat.EndpointView
	s.Must(http.StatusOK, "GET", "/api/v1/endpoints/"+epG.ID, nil).JSON(t, &v)
	if v.Status != chat.EndpointDisabled {
		t.Fatalf("after 410 the endpoint is %s", v.Status)
	}
	r := waitStatus(t, s, epR.ID, "", chat.DeliveryFailed, 1)[0]
	if d := delivery(t, s, r.ID); d.Attempts[0].StatusCode != 307 || !strings.Contains(d.Attempts[0].Error, "redirect") {
		t.Fatalf("3xx: %+v", d.Attempts)
	}
	th := waitStatus(t, s, epT.ID, "", chat.DeliveryFailed, 1)[0]
	if d := delivery(t, s, th.ID); d.NextAttemptAt.Sub(d.Attempts[0].At) != 120*time.Second {
		t.Fatalf("Retry-After 120 not honoured: next at %v, attempt at %v", d.NextAttemptAt, d.Attempts[0].At)
	}
	c := waitStatus(t, s, epC.ID, "", chat.DeliveryFailed, 1)[0]
	if d := delivery(t, s, c.ID); d.NextAttemptAt.Sub(d.Attempts[0].At) != time.Hour {
		t.Fatalf("Retry-After not capped at 1h: %v", d.NextAttemptAt.Sub(d.Attempts[0].At))
	}
	// A disabled endpoint gets no new rows; the redirect target was never contacted.
	mkRoom(t, s, "r2")
	waitStatus(t, s, epT.ID, "", chat.DeliveryFailed, 2)
	if n := len(deliveries(t, s, epG.ID, "")); n != 1 || gone.count() != 1 {
		t.Fatalf("disabled endpoint: %d deliveries, %d requests", n, gone.count())
	}
}

func TestReplaySendsAgainWithSameEventIDs(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventRoomCreate}})
	t0 := s.Clock.Now()
	mkRoom(t, s, "r1")
	mkRoom(t, s, "r2")
	advance(s, time.Minute)
	mkRoom(t, s, "r3")
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 3)
	var res struct{ Deliveries int }
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/replay", map[string]any{"since": t0.Add(30 * time.Second)}).JSON(t, &res)
	if res.Deliveries != 1 {
		t.Fatalf("replay since +30s created %d", res.Deliveries)
	}
	s.Must(http.StatusOK, "POST", "/api/v1/endpoints/"+ep.ID+"/replay", map[string]any{"since": t0}).JSON(t, &res)
	if res.Deliveries != 3 {
		t.Fatalf("replay since t0 created %d", res.Deliveries)
	}
	waitStatus(t, s, ep.ID, "", chat.DeliverySucceeded, 7)
	ids := map[string]int{}
	for _, h := range rc.all() {
		ids[h.Header.Get("webhook-id")]++
	}
	if len(ids) != 3 {
		t.Fatalf("event ids %v", ids)
	}
}
