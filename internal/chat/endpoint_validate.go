package chat

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// EndpointURLs checks an endpoint URL when it is set: its shape and, unless private targets
// are allowed, that it is not an address deliveries are always refused to. An error's text
// is shown to the caller after "url: ".
type EndpointURLs interface {
	CheckEndpointURL(raw string) error
}

// EndpointSecrets makes and checks endpoint secrets in each format's shape. An error from
// CheckSecret is shown to the caller.
type EndpointSecrets interface {
	NewSecret(format string) (string, error)
	CheckSecret(format, secret string) error
}

// reservedHeaders may not be set by an endpoint's custom headers: they carry the body
// framing, the signatures or the sender's identity.
func reservedHeaders() []string {
	return []string{
		"Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "User-Agent",
		"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "X-Sendbird-Signature", "X-Signature", "X-Goog-Signature",
		"Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Authorization", "Expect",
	}
}

func validFormat(f string) error {
	switch f {
	case FormatStandard, FormatSendbird, FormatRBM:
		return nil
	}
	return Errorf(CodeInvalidArgument, "format %q is not one of standard, sendbird, rbm, slack, mattermost, google_chat, chime", f)
}

func validEventTypes(ts []string) error {
	if len(ts) == 0 {
		return Errorf(CodeInvalidArgument, `event_types is required: ["*"] for every type, or a list of types`)
	}
	for _, t := range ts {
		if t == "*" {
			if len(ts) > 1 {
				return Errorf(CodeInvalidArgument, `event_types: "*" must be alone`)
			}
			continue
		}
		if !KnownEventType(t) {
			return Errorf(CodeInvalidArgument, "event_types: unknown event type %q (see GET /api/v1/event-types)", t)
		}
	}
	return nil
}

func (o *Deliveries) validEndpointURL(raw string) error {
	if err := o.urls.CheckEndpointURL(raw); err != nil {
		return &Error{Code: CodeInvalidArgument, Message: "url: " + err.Error(), Err: err}
	}
	return nil
}

func (o *Deliveries) validSecret(format, secret string) error {
	if len(secret) > 256 || !utf8.ValidString(secret) || strings.ContainsAny(secret, "\r\n") {
		return Errorf(CodeInvalidArgument, "secret must be at most 256 bytes of UTF-8 on one line")
	}
	if err := o.secrets.CheckSecret(format, secret); err != nil {
		return &Error{Code: CodeInvalidArgument, Message: err.Error(), Err: err}
	}
	return nil
}

// newSecret generates a secret in the format's shape.
func (o *Deliveries) newSecret(format string) (string, error) {
	s, err := o.secrets.NewSecret(format)
	if err != nil {
		return "", fmt.Errorf("chat: new endpoint secret: %w", err)
	}
	return s, nil
}

func validHeaders(h map[string]string) error {
	if len(h) > MaxEndpointHeaders {
		return Errorf(CodeInvalidArgument, "headers: at most %d", MaxEndpointHeaders)
	}
	for k, v := range h {
		if k == "" || len(k) > 128 || strings.IndexFunc(k, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
			return Errorf(CodeInvalidArgument, "headers: %q is not a valid header name", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(reservedHeaders(), ck) || strings.HasPrefix(ck, "Webhook-") {
			return Errorf(CodeInvalidArgument, "headers: %q is set by the server and cannot be overridden", k)
		}
		if len(v) > 4096 || strings.ContainsAny(v, "\r\n\x00") {
			return Errorf(CodeInvalidArgument, "headers: the value of %q must be one line of at most 4096 bytes", k)
		}
	}
	return nil
}

func isTokenChar(r rune) bool {
	return r < 127 && r > 32 && !strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
}

// validOptions checks what every format's endpoint shares: headers, agent scope and limits.
func validOptions(e Endpoint) error {
	if err := validHeaders(e.Headers); err != nil {
		return err
	}
	if e.AgentID != "" {
		if err := validID("agent_id", e.AgentID); err != nil {
			return err
		}
	}
	return validLimits(e)
}

func validLimits(e Endpoint) error {
	switch {
	case e.TimeoutMS < 0 || int64(e.TimeoutMS) > MaxTimeout.Milliseconds():
		return Errorf(CodeInvalidArgument, "timeout_ms must be between 1 and %d", MaxTimeout.Milliseconds())
	case e.MaxInFlight < 0 || e.MaxInFlight > MaxMaxInFlight:
		return Errorf(CodeInvalidArgument, "max_in_flight must be between 1 and %d", MaxMaxInFlight)
	case e.RateLimit < 0 || e.RateLimit > 100000:
		return Errorf(CodeInvalidArgument, "rate_limit_per_second must be between 0 (unlimited) and 100000")
	case e.Retry.MaxAttempts < 0 || e.Retry.MaxAttempts > 100:
		return Errorf(CodeInvalidArgument, "retry.max_attempts must be between 1 and 100")
	case e.Retry.MaxIntervalS < 0 || e.Retry.MaxIntervalS > 7*86400:
		return Errorf(CodeInvalidArgument, "retry.max_interval_s must be between 1 and %d", 7*86400)
	case e.Retry.TTLS < 0 || e.Retry.TTLS > 30*86400:
		return Errorf(CodeInvalidArgument, "retry.ttl_s must be between 1 and %d", 30*86400)
	case len(e.Description) > 1024:
		return Errorf(CodeInvalidArgument, "description is longer than 1024 bytes")
	}
	return nil
}

// validateEndpoint checks an endpoint before it is stored; checkURL is false when an update
// leaves the URL as it was (an endpoint made under --allow-private-targets stays editable).
func (o *Deliveries) validateEndpoint(e Endpoint, secret string, checkURL bool) error {
	if checkURL {
		if err := o.validEndpointURL(e.URL); err != nil {
			return err
		}
	}
	if err := validFormat(e.Format); err != nil {
		return err
	}
	if err := validEventTypes(e.EventTypes); err != nil {
		return err
	}
	if err := o.validSecret(e.Format, secret); err != nil {
		return err
	}
	return validOptions(e)
}
