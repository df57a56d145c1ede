package webhook

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxBodyBytes is the largest body Middleware reads; larger requests get 413.
const MaxBodyBytes = 4 << 20

// Verifier checks one delivery: its headers and the exact bytes of its body.
type Verifier interface {
	Verify(h http.Header, body []byte) error
}

// Handshaker is a Verifier whose format has a verification handshake that Middleware answers
// itself (RBM). Handshake reports whether body is a handshake request and, if so, the body
// to answer with 200, or an error.
type Handshaker interface {
	Handshake(body []byte) (answer []byte, isHandshake bool, err error)
}

// Standard verifies Standard Webhooks deliveries against one or more secrets (hold both
// while you rotate yours). The zero Tolerance means DefaultTolerance; a nil Now means
// time.Now.
type Standard struct {
	keys      [][]byte
	Tolerance time.Duration
	Now       func() time.Time
}

// NewStandard returns a Standard verifier for the given "whsec_..." secrets.
func NewStandard(secrets ...string) (*Standard, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: no secret")
	}
	s := &Standard{keys: make([][]byte, 0, len(secrets))}
	for _, secret := range secrets {
		k, err := DecodeStandardSecret(secret)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// Verify checks the webhook-* headers against body (see VerifyStandard).
func (s *Standard) Verify(h http.Header, body []byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return VerifyStandard(s.keys, h, body, now(), s.Tolerance)
}

// Sendbird verifies Sendbird-format deliveries against one or more secrets.
type Sendbird struct{ secrets []string }

// NewSendbird returns a Sendbird verifier for the given secrets.
func NewSendbird(secrets ...string) *Sendbird {
	return &Sendbird{secrets: secrets}
}

// Verify accepts the request when any value of x-sendbird-signature or x-signature is the
// signature of body under any of the secrets. The error is nil or wraps ErrMissingHeaders or
// ErrNoMatch.
func (s *Sendbird) Verify(h http.Header, body []byte) error {
	sigs := headerValues(h, HeaderSendbirdSignature, HeaderSignature)
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no %s or %s", ErrMissingHeaders, HeaderSendbirdSignature, HeaderSignature)
	}
	for _, secret := range s.secrets {
		for _, sig := range sigs {
			if VerifySendbird(secret, body, sig) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// RBM verifies RBM-format deliveries (Pub/Sub push envelopes) against one or more client
// tokens, and answers their verification handshake.
type RBM struct{ tokens []string }

// NewRBM returns an RBM verifier for the given client tokens (the endpoint's secret).
func NewRBM(clientTokens ...string) *RBM {
	return &RBM{tokens: clientTokens}
}

// Push is a Pub/Sub push envelope. Message.Data is already base64-decoded: it is the event
// JSON, the bytes X-Goog-Signature signs.
type Push struct {
	Message struct {
		Data        []byte            `json:"data"`
		MessageID   string            `json:"messageId"`
		PublishTime time.Time         `json:"publishTime"`
		Attributes  map[string]string `json:"attributes"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// DecodePush decodes a Pub/Sub push envelope. The error wraps ErrMalformed.
func DecodePush(body []byte) (*Push, error) {
	var p Push
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: not a Pub/Sub push envelope: %v", ErrMalformed, err)
	}
	if len(p.Message.Data) == 0 {
		return nil, fmt.Errorf("%w: the envelope has no message.data", ErrMalformed)
	}
	return &p, nil
}

// Verify decodes the envelope and accepts it when any X-Goog-Signature value is the
// signature of the decoded message.data under any of the client tokens. The error is nil or
// wraps ErrMissingHeaders, ErrMalformed or ErrNoMatch.
func (r *RBM) Verify(h http.Header, body []byte) error {
	sigs := headerValues(h, HeaderRBMSignature)
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no %s", ErrMissingHeaders, HeaderRBMSignature)
	}
	p, err := DecodePush(body)
	if err != nil {
		return err
	}
	for _, tok := range r.tokens {
		for _, sig := range sigs {
			if VerifyRBM(tok, p.Message.Data, sig) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// Handshake recognises the verification request {"clientToken": ..., "secret": ...}. When
// the clientToken is one of r's, the answer is the secret, to be sent as the body of a 200.
// A request for another clientToken is an error wrapping ErrNoMatch.
func (r *RBM) Handshake(body []byte) (answer []byte, isHandshake bool, err error) {
	var req struct {
		ClientToken *string         `json:"clientToken"`
		Secret      *string         `json:"secret"`
		Message     json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &req) != nil || req.ClientToken == nil || req.Secret == nil || req.Message != nil {
		return nil, false, nil
	}
	if *req.Secret == "" {
		return nil, true, fmt.Errorf("%w: empty handshake secret", ErrMalformed)
	}
	for _, tok := range r.tokens {
		if tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(*req.ClientToken)) == 1 {
			return []byte(*req.Secret), true, nil
		}
	}
	return nil, true, fmt.Errorf("%w: handshake for another clientToken", ErrNoMatch)
}

// headerValues returns every non-empty value of the named headers, comma-separated lists
// split (a proxy may join repeated headers; hex and base64 contain no commas).
func headerValues(h http.Header, names ...string) []string {
	var out []string
	for _, name := range names {
		for _, v := range h.Values(name) {
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
		}
	}
	return out
}

// Middleware returns middleware that passes to next only POST requests that v verifies, with
// the body restored for next to read. It answers the others itself, in text/plain: 405 for
// other methods, 413 above MaxBodyBytes, 400 for missing headers or a malformed body, 401 for
// a stale timestamp or a signature that does not match. With a Handshaker (RBM) it also
// answers the verification handshake.
func Middleware(v Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				http.Error(w, "webhook: POST only", http.StatusMethodNotAllowed)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
			if err != nil {
				http.Error(w, "webhook: reading the body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if len(body) > MaxBodyBytes {
				http.Error(w, "webhook: body too large", http.StatusRequestEntityTooLarge)
				return
			}
			if hs, ok := v.(Handshaker); ok {
				answer, isHandshake, err := hs.Handshake(body)
				if isHandshake {
					if err != nil {
						http.Error(w, err.Error(), Status(err))
						return
					}
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					_, _ = w.Write(answer)
					return
				}
			}
			if err := v.Verify(r.Header, body); err != nil {
				http.Error(w, err.Error(), Status(err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

// Status is the HTTP status Middleware answers a verification error with: 400 for
// ErrMissingHeaders and ErrMalformed, 401 otherwise.
func Status(err error) int {
	if errors.Is(err, ErrMissingHeaders) || errors.Is(err, ErrMalformed) {
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}
