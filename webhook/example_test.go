package webhook_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/chathooks/chathooks/webhook"
)

// A receiver for a standard-format endpoint: the handler runs only for verified deliveries.
func ExampleMiddleware() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the endpoint's secret
	v, err := webhook.NewStandard(secret)
	if err != nil {
		panic(err)
	}
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("event %s: %s\n", r.Header.Get("webhook-id"), body)
	})
	handler := webhook.Middleware(v)(events)
	// mux.Handle("POST /chathooks", handler) in a real server; here, two requests by hand.

	body := `{"type":"group_channel:message_send","timestamp":"2026-11-23T12:00:00Z","data":{}}`
	key, _ := webhook.DecodeStandardSecret(secret)
	signed := httptest.NewRequest("POST", "/chathooks", strings.NewReader(body))
	webhook.SetStandardHeaders(signed.Header, [][]byte{key}, "evt_1", time.Now(), []byte(body))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, signed)
	fmt.Println(rec.Code)

	forged := httptest.NewRequest("POST", "/chathooks", strings.NewReader(body))
	webhook.SetStandardHeaders(forged.Header, [][]byte{[]byte("not the secret")}, "evt_2", time.Now(), []byte(body))
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, forged)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// event evt_1: {"type":"group_channel:message_send","timestamp":"2026-11-23T12:00:00Z","data":{}}
	// 200
	// 401 webhook: no matching signature
}

// Verifying a Standard Webhooks delivery without middleware. During a rotation the
// receiver holds the old and the new secret; a delivery signed with either verifies.
func ExampleStandard_Verify() {
	v, err := webhook.NewStandard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_plJ3nmyCDGBKInavdOK15jsl")
	if err != nil {
		panic(err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330, 0) } // the time of the delivery below
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	fmt.Println(v.Verify(h, []byte(`{"test": 2432232314}`)))

	v.Now = func() time.Time { return time.Unix(1614265330, 0).Add(time.Hour) } // a replay, an hour later
	fmt.Println(v.Verify(h, []byte(`{"test": 2432232314}`)))
	// Output:
	// <nil>
	// webhook: webhook-timestamp malformed or outside tolerance: message too old (1h0m0s before now)
}

// Verifying a Sendbird-format delivery: the hex HMAC-SHA256 of the body in
// x-sendbird-signature (or, with the same value, x-signature).
func ExampleSendbird_Verify() {
	const secret = "8a1a4c1c3f4e0f2b6d9e7a5b3c1d2e4f"
	body := []byte(`{"category":"group_channel:message_send","app_id":"chathooks"}`)
	h := http.Header{}
	h.Set("x-signature", webhook.SendbirdSignature(secret, body))

	v := webhook.NewSendbird(secret)
	fmt.Println(v.Verify(h, body))
	fmt.Println(v.Verify(h, append(body, ' ')))
	fmt.Println(v.Verify(http.Header{}, body))
	// Output:
	// <nil>
	// webhook: no matching signature
	// webhook: missing signature headers: no X-Sendbird-Signature or X-Signature
}

// An RBM-format endpoint first answers the verification handshake with the secret it was
// sent, then receives Pub/Sub push envelopes signed over the decoded message.data.
func ExampleRBM() {
	const clientToken = "SJENCPGJESMGUFPY"
	handler := webhook.Middleware(webhook.NewRBM(clientToken))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		push, err := webhook.DecodePush(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Printf("%s: %s\n", push.Message.Attributes["event_type"], push.Message.Data)
	}))

	handshake := httptest.NewRequest("POST", "/rbm", strings.NewReader(`{"clientToken":"SJENCPGJESMGUFPY","secret":"1234567890"}`))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, handshake)
	fmt.Println(rec.Code, rec.Body.String())

	event := []byte(`{"eventType":"READ","messageId":"m1"}`)
	envelope := `{"message":{"data":"` + base64.StdEncoding.EncodeToString(event) +
		`","messageId":"1","attributes":{"event_type":"group_channel:message_read"}},"subscription":"s"}`
	delivery := httptest.NewRequest("POST", "/rbm", strings.NewReader(envelope))
	delivery.Header.Set("X-Goog-Signature", webhook.RBMSignature(clientToken, event))
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, delivery)
	fmt.Println(rec.Code)
	// Output:
	// 200 1234567890
	// group_channel:message_read: {"eventType":"READ","messageId":"m1"}
	// 200
}
