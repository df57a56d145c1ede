package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/signing"
)

// Verifier runs RBM's verification handshake through the egress client.
type Verifier struct{ Client *http.Client }

// Verify implements chat.EndpointVerifier: POST {"clientToken", "secret"}; success only on
// 200 with exactly the secret as body (surrounding whitespace ignored).
func (v Verifier) Verify(ctx context.Context, e chat.Endpoint, clientToken string) error {
	secret, err := signing.RandomToken(16)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"clientToken": clientToken, "secret": secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return chat.Errorf(chat.CodeInvalidArgument, "endpoint URL: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chathooks")
	for k, val := range e.Headers {
		req.Header.Set(k, val)
	}
	resp, err := v.Client.Do(req)
	if err != nil {
		return &chat.Error{Code: chat.CodeFailedPrecond, Message: attemptError(err), Err: err}
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return chat.Errorf(chat.CodeFailedPrecond, "the endpoint answered %d, want 200 with the secret", resp.StatusCode)
	}
	if strings.TrimSpace(string(got)) != secret {
		return chat.Errorf(chat.CodeFailedPrecond, "the endpoint answered 200 but its body is not the secret")
	}
	return nil
}

var _ chat.EndpointVerifier = Verifier{}
