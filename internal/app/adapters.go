package app

import (
	"errors"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/egress"
	"github.com/chathooks/chathooks/internal/signing"
)

// endpointURLs checks endpoint URLs with the egress policy (chat.EndpointURLs).
type endpointURLs struct{ allowPrivate bool }

func (c endpointURLs) CheckEndpointURL(raw string) error {
	var err error
	if c.allowPrivate {
		_, err = egress.ValidateURL(raw)
	} else {
		err = egress.CheckTarget(raw)
	}
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "egress: ")
	if errors.Is(err, egress.ErrForbiddenAddress) {
		msg = strings.TrimPrefix(err.Error(), egress.ErrForbiddenAddress.Error()+": ")
		return errors.New(msg + ": deliveries to loopback, private, link-local and metadata addresses are refused unless the server runs with --allow-private-targets")
	}
	return errors.New(msg)
}

// endpointSecrets makes and checks endpoint secrets with the signing package
// (chat.EndpointSecrets): standard secrets are whsec_ plus base64 of 24 to 64 bytes, the
// other formats take any token.
type endpointSecrets struct{}

func (endpointSecrets) NewSecret(format string) (string, error) {
	if format == chat.FormatStandard {
		return signing.NewStandardSecret()
	}
	return signing.RandomToken(32)
}

func (endpointSecrets) CheckSecret(format, secret string) error {
	if format != chat.FormatStandard {
		return nil
	}
	bad := errors.New("a standard secret is whsec_ followed by base64 of 24 to 64 random bytes")
	if !strings.HasPrefix(secret, signing.StandardSecretPrefix) {
		return bad
	}
	if key, err := signing.DecodeStandardSecret(secret); err != nil || len(key) < 24 || len(key) > 64 {
		return bad
	}
	return nil
}

// webhookTokens makes incoming-webhook tokens (chat.Tokens).
type webhookTokens struct{}

func (webhookTokens) NewToken() (string, error) { return signing.RandomToken(chat.WebhookTokenBytes) }
