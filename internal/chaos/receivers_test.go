package chaos

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/webhook"
)

// sink is a verifying receiver of one endpoint format. It checks every request's
// signature and records, per message id, the event ids it arrived under and how often.
type sink struct {
	*httptest.Server
	format string
	secret string // set before the endpoint is created

	mu       sync.Mutex
	events   map[string]map[string]bool // message id -> event ids (sendbird: none)
	requests int
	badSig   int
	badBody  int
}

func newSink(t testing.TB, format, secret string) *sink {
	s := &sink{format: format, secret: secret, events: map[string]map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	msgID, evID, ok := s.check(r.Header, body)
	if ok && msgID == "" && evID == "" { // the RBM verification handshake was answered
		var v struct{ Secret string }
		_ = json.Unmarshal(body, &v)
		_, _ = io.WriteString(w, v.Secret)
		return
	}
	// Answer after 10-30 ms, as a real receiver would: deliveries are then in flight, and
	// leased, at the moment a server is killed.
	select {
	case <-time.After(time.Duration(10+randN(20)) * time.Millisecond):
	case <-r.Context().Done():
		return // the sender vanished (SIGKILL): no answer, the delivery stays leased
	}
	s.mu.Lock()
	s.requests++
	switch {
	case !ok:
		s.badSig++
	case msgID == "":
		s.badBody++
	default:
		if s.events[msgID] == nil {
			s.events[msgID] = map[string]bool{}
		}
		s.events[msgID][evID] = true
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// check verifies the request and extracts the message and event ids. For an RBM
// verification handshake with the right client token it returns ("", "", true).
func (s *sink) check(h http.Header, body []byte) (msgID, evID string, ok bool) {
	switch s.format {
	case "standard":
		key, err := webhook.DecodeStandardSecret(s.secret)
		if err != nil || webhook.VerifyStandard([][]byte{key}, h, body, time.Now(), 10*time.Minute) != nil {
			return "", "", false
		}
		var b struct {
			Data struct{ Message struct{ ID string } }
		}
		_ = json.Unmarshal(body, &b)
		return b.Data.Message.ID, h.Get(webhook.HeaderWebhookID), true
	case "sendbird":
		if !webhook.VerifySendbird(s.secret, body, h.Get(webhook.HeaderSendbirdSignature)) {
			return "", "", false
		}
		var b struct {
			Payload struct {
				MessageID string `json:"message_id"`
			}
		}
		_ = json.Unmarshal(body, &b)
		return b.Payload.MessageID, "", true
	default: // rbm
		var hs struct{ ClientToken, Secret string }
		if json.Unmarshal(body, &hs) == nil && hs.ClientToken != "" {
			return "", "", hs.ClientToken == s.secret
		}
		var env struct {
			Message struct {
				Data      string
				MessageID string `json:"messageId"`
			}
		}
		if json.Unmarshal(body, &env) != nil {
			return "", "", false
		}
		data, err := base64.StdEncoding.DecodeString(env.Message.Data)
		if err != nil || !webhook.VerifyRBM(s.secret, data, h.Get(webhook.HeaderRBMSignature)) {
			return "", "", false
		}
		var ev struct {
			EventID string `json:"eventId"`
			Data    struct{ Message struct{ ID string } }
		}
		_ = json.Unmarshal(data, &ev)
		if ev.EventID != env.Message.MessageID {
			return "", "", false
		}
		return ev.Data.Message.ID, ev.EventID, true
	}
}

// pending returns the ids the sink has not received, reusing the array of ids.
func (s *sink) pending(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ids[:0]
	for _, id := range ids {
		if len(s.events[id]) == 0 {
			out = append(out, id)
		}
	}
	return out
}

// requestCount is the number of requests the sink has answered.
func (s *sink) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// missing returns how many of ids the sink has not received.
func (s *sink) missing(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if len(s.events[id]) == 0 {
			n++
		}
	}
	return n
}
