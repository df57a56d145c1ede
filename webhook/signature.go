package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names, in Go's canonical MIME form (http.Header.Get and Set
// canonicalise "webhook-id" to the same key; the wire is case-insensitive).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"

	// HeaderSendbirdSignature carries SendbirdSignature.
	HeaderSendbirdSignature = "X-Sendbird-Signature"
	// HeaderSignature carries the same value as HeaderSendbirdSignature, under the name
	// Sendbird's webhook tutorial tells receivers to read.
	HeaderSignature = "X-Signature"
	// HeaderRBMSignature carries RBMSignature.
	HeaderRBMSignature = "X-Goog-Signature"
)

const (
	// StandardSecretPrefix marks a Standard Webhooks symmetric secret.
	StandardSecretPrefix = "whsec_"
	// StandardSecretBytes is the size of the keys NewStandardSecret makes.
	StandardSecretBytes = 24
	// DefaultTolerance is the clock skew VerifyStandard allows when given tolerance <= 0; every
	// reference library uses five minutes.
	DefaultTolerance = 5 * time.Minute

	v1Prefix  = "v1,"
	sigB64Len = 44 // base64.StdEncoding.EncodedLen(sha256.Size)
	// maxAbsUnix bounds the timestamps VerifyStandard accepts before doing time arithmetic
	// (about year 36812); anything larger is rejected as malformed, never wrapped around.
	maxAbsUnix = 1 << 40
)

// Errors returned by the verifiers, possibly wrapped with detail: test with errors.Is.
var (
	// ErrMissingHeaders: a signature header of the format is absent or empty (Standard
	// Webhooks: webhook-id, webhook-timestamp or webhook-signature).
	ErrMissingHeaders = errors.New("webhook: missing signature headers")
	// ErrTimestamp: webhook-timestamp is not an integer, or is outside the tolerance.
	ErrTimestamp = errors.New("webhook: webhook-timestamp malformed or outside tolerance")
	// ErrNoMatch: no signature in the request matches any of the secrets.
	ErrNoMatch = errors.New("webhook: no matching signature")
	// ErrMalformed: the body is not what the format carries (an RBM body that is not a
	// Pub/Sub push envelope, a handshake without its fields).
	ErrMalformed = errors.New("webhook: malformed body")
)

// NewStandardSecret returns a new Standard Webhooks secret: "whsec_" followed by the standard,
// padded base64 of 24 random bytes (some verifiers reject unpadded or URL-safe forms; 24 bytes
// encode without padding characters anyway).
func NewStandardSecret() (string, error) {
	var key [StandardSecretBytes]byte
	if _, err := rand.Read(key[:]); err != nil {
		return "", fmt.Errorf("webhook: reading random bytes: %w", err)
	}
	buf := make([]byte, len(StandardSecretPrefix)+base64.StdEncoding.EncodedLen(len(key)))
	copy(buf, StandardSecretPrefix)
	base64.StdEncoding.Encode(buf[len(StandardSecretPrefix):], key[:])
	return string(buf), nil
}

// DecodeStandardSecret returns the HMAC key of a Standard Webhooks secret: the optional
// "whsec_" prefix is removed and the rest decoded as standard base64, padded or not. URL-safe
// base64, embedded whitespace or line breaks, misplaced padding, other prefixes (whsk_, whpk_)
// and empty keys are errors. Like the reference libraries it does not insist on canonical
// encodings (zero trailing bits), nor on a minimum key length.
func DecodeStandardSecret(s string) ([]byte, error) {
	s = strings.TrimPrefix(s, StandardSecretPrefix)
	if s == "" {
		return nil, errors.New("webhook: empty secret")
	}
	// encoding/base64 silently skips '\r' and '\n'; refuse anything outside the alphabet,
	// and padding anywhere but at the end.
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			pad++
		case pad > 0:
			return nil, errors.New("webhook: secret: padding before the end")
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return nil, fmt.Errorf("webhook: secret: character %q is not standard base64", c)
		}
	}
	enc := base64.StdEncoding
	if pad == 0 && len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("webhook: secret: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("webhook: empty secret")
	}
	return key, nil
}

// appendSignedPrefix appends "id.timestamp." — the part of the signed content before the body.
func appendSignedPrefix(dst []byte, msgID string, unix int64) []byte {
	dst = append(dst, msgID...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, unix, 10)
	return append(dst, '.')
}

// standardMAC writes the base64 v1 signature of prefix+body under key into out.
func standardMAC(out *[sigB64Len]byte, key, prefix, body []byte) {
	h := hmac.New(sha256.New, key)
	h.Write(prefix)
	h.Write(body)
	var sum [sha256.Size]byte
	base64.StdEncoding.Encode(out[:], h.Sum(sum[:0]))
}

// StandardSignature returns the webhook-signature header value for a message: one "v1,<base64>"
// item per secret, separated by single spaces, each an HMAC-SHA256 over
// "<msgID>.<ts as Unix seconds>.<body>". During a rotation pass every live secret, so receivers
// holding either the old or the new one verify. Empty keys are skipped (a signature under an
// empty key is forgeable); with no usable key the result is "".
//
// The webhook-timestamp header must carry the same Unix second (StandardTimestamp).
func StandardSignature(secrets [][]byte, msgID string, ts time.Time, body []byte) string {
	n := 0
	for _, k := range secrets {
		if len(k) > 0 {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	prefix := appendSignedPrefix(make([]byte, 0, len(msgID)+22), msgID, ts.Unix())
	var b strings.Builder
	b.Grow(n*(len(v1Prefix)+sigB64Len) + n - 1)
	var sig [sigB64Len]byte
	for _, key := range secrets {
		if len(key) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		standardMAC(&sig, key, prefix, body)
		b.WriteString(v1Prefix)
		b.Write(sig[:])
	}
	return b.String()
}

// StandardTimestamp formats ts as the webhook-timestamp header value (Unix seconds).
func StandardTimestamp(ts time.Time) string {
	return strconv.FormatInt(ts.Unix(), 10)
}

// SetStandardHeaders sets webhook-id, webhook-timestamp and webhook-signature on h for a
// message signed with every secret (see StandardSignature).
func SetStandardHeaders(h http.Header, secrets [][]byte, msgID string, ts time.Time, body []byte) {
	h[HeaderWebhookID] = []string{msgID}
	h[HeaderWebhookTimestamp] = []string{StandardTimestamp(ts)}
	h[HeaderWebhookSignature] = []string{StandardSignature(secrets, msgID, ts, body)}
}

// VerifyStandard checks a Standard Webhooks v1 message as a receiver would: the three headers
// must be present, webhook-timestamp must be an integer within tolerance of now in either
// direction (tolerance <= 0 means DefaultTolerance), and at least one "v1," item of the
// space-separated webhook-signature must equal, compared in constant time, the signature under
// one of secrets. Items with other version tags (v1a, ...) are ignored, as are empty keys.
//
// The error is nil or wraps ErrMissingHeaders, ErrTimestamp or ErrNoMatch.
func VerifyStandard(secrets [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	msgID := h.Get(HeaderWebhookID)
	tsText := h.Get(HeaderWebhookTimestamp)
	sigHeader := h.Get(HeaderWebhookSignature)
	if msgID == "" || tsText == "" || sigHeader == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || unix > maxAbsUnix || unix < -maxAbsUnix {
		return fmt.Errorf("%w: %q is not a Unix timestamp", ErrTimestamp, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts := time.Unix(unix, 0)
	if ts.Before(now.Add(-tolerance)) {
		return fmt.Errorf("%w: message too old (%s before now)", ErrTimestamp, now.Sub(ts).Truncate(time.Second))
	}
	if ts.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: message too new (%s after now)", ErrTimestamp, ts.Sub(now).Truncate(time.Second))
	}

	prefix := appendSignedPrefix(make([]byte, 0, len(msgID)+22), msgID, unix)
	var few [2][sigB64Len]byte
	expected := few[:0]
	if len(secrets) > len(few) {
		expected = make([][sigB64Len]byte, 0, len(secrets))
	}
	for _, key := range secrets {
		if len(key) == 0 {
			continue
		}
		expected = append(expected, [sigB64Len]byte{})
		standardMAC(&expected[len(expected)-1], key, prefix, body)
	}
	if len(expected) == 0 {
		return ErrNoMatch
	}

	given := []byte(sigHeader)
	for len(given) > 0 {
		var item []byte
		if i := bytes.IndexByte(given, ' '); i >= 0 {
			item, given = given[:i], given[i+1:]
		} else {
			item, given = given, nil
		}
		if len(item) <= len(v1Prefix) || string(item[:len(v1Prefix)]) != v1Prefix {
			continue // empty, another version, or malformed
		}
		item = item[len(v1Prefix):]
		for i := range expected {
			if hmac.Equal(item, expected[i][:]) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// SendbirdSignature returns the x-sendbird-signature value: lowercase hex of
// HMAC-SHA256(key = the secret's bytes as given, data = the raw body).
func SendbirdSignature(secret string, body []byte) string {
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sendbirdMAC(secret, body))
	return string(out[:])
}

func sendbirdMAC(secret string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return h.Sum(nil)
}

// VerifySendbird reports whether sig (hex, either case) is the Sendbird signature of body
// under secret, comparing in constant time.
func VerifySendbird(secret string, body []byte, sig string) bool {
	if len(sig) != 2*sha256.Size || secret == "" {
		return false
	}
	given, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(given, sendbirdMAC(secret, body))
}

// RBMSignature returns the X-Goog-Signature value: standard padded base64 of
// HMAC-SHA512(key = clientToken, data = decodedData), where decodedData is the base64-decoded
// content of the Pub/Sub envelope's message.data (the event JSON), not the HTTP body.
func RBMSignature(clientToken string, decodedData []byte) string {
	var out [88]byte // base64.StdEncoding.EncodedLen(sha512.Size)
	base64.StdEncoding.Encode(out[:], rbmMAC(clientToken, decodedData))
	return string(out[:])
}

func rbmMAC(clientToken string, data []byte) []byte {
	h := hmac.New(sha512.New, []byte(clientToken))
	h.Write(data)
	return h.Sum(nil)
}

// VerifyRBM reports whether sig is the RBM signature of decodedData under clientToken,
// comparing in constant time.
func VerifyRBM(clientToken string, decodedData []byte, sig string) bool {
	if len(sig) != 88 || clientToken == "" {
		return false
	}
	given, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(given, rbmMAC(clientToken, decodedData))
}
