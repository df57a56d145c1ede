// Package signing is the sending side of webhook signatures: the server's names for the
// primitives of the public receiver package github.com/chathooks/chathooks/webhook (one
// implementation, so what the server signs is exactly what receivers verify), and the
// random tokens the server issues.
package signing

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/chathooks/chathooks/webhook"
)

// Header names and the Standard Webhooks secret prefix.
const (
	HeaderWebhookID         = webhook.HeaderWebhookID
	HeaderWebhookTimestamp  = webhook.HeaderWebhookTimestamp
	HeaderWebhookSignature  = webhook.HeaderWebhookSignature
	HeaderSendbirdSignature = webhook.HeaderSendbirdSignature
	HeaderSignature         = webhook.HeaderSignature
	HeaderRBMSignature      = webhook.HeaderRBMSignature
	StandardSecretPrefix    = webhook.StandardSecretPrefix
)

// NewStandardSecret returns a new "whsec_" secret (webhook.NewStandardSecret).
func NewStandardSecret() (string, error) { return webhook.NewStandardSecret() }

// DecodeStandardSecret returns the HMAC key of a "whsec_" secret (webhook.DecodeStandardSecret).
func DecodeStandardSecret(s string) ([]byte, error) { return webhook.DecodeStandardSecret(s) }

// SetStandardHeaders sets webhook-id, webhook-timestamp and webhook-signature, signed with
// every key (webhook.SetStandardHeaders).
func SetStandardHeaders(h http.Header, keys [][]byte, msgID string, ts time.Time, body []byte) {
	webhook.SetStandardHeaders(h, keys, msgID, ts, body)
}

// SendbirdSignature is the x-sendbird-signature value of body (webhook.SendbirdSignature).
func SendbirdSignature(secret string, body []byte) string {
	return webhook.SendbirdSignature(secret, body)
}

// RBMSignature is the X-Goog-Signature value of the decoded message.data (webhook.RBMSignature).
func RBMSignature(clientToken string, decodedData []byte) string {
	return webhook.RBMSignature(clientToken, decodedData)
}

// RandomToken returns nBytes random bytes as URL-safe base64 without padding, for webhook
// tokens, RBM verification secrets and the like. nBytes must be positive.
func RandomToken(nBytes int) (string, error) {
	if nBytes <= 0 {
		return "", fmt.Errorf("signing: RandomToken(%d): size must be positive", nBytes)
	}
	b := make([]byte, nBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("signing: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
