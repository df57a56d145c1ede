package delivery

import (
	"net/http"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/relay"
)

// buildChat renders ev for a chat target: the target's message shape, posted to the URL
// held as the endpoint's secret, with the relay hop header and no signature.
func buildChat(ep *endpoint, ev *chat.Event) (request, error) {
	r, err := relay.Build(relay.Target{Format: ep.Format, URL: ep.secrets[0], Template: ep.Template}, ev)
	if err != nil {
		return request{}, err
	}
	h := make(http.Header, len(ep.Headers)+len(r.Header))
	for k, v := range ep.Headers {
		h.Set(k, v)
	}
	for k, vs := range r.Header {
		h[k] = vs
	}
	return request{body: r.Body, header: h, url: r.URL}, nil
}

// accepted judges an answer as the endpoint's format does: chat targets as the chat tool's
// own clients do (see relay.Accepted), rbm only 200, the others any 2xx.
func accepted(format string, status int, excerpt string) bool {
	if chat.IsChatTarget(format) {
		return relay.Accepted(format, status, excerpt)
	}
	return status >= 200 && status < 300 && (format != chat.FormatRBM || status == http.StatusOK)
}

// statusError describes a refused answer.
func statusError(format string, status int) string {
	if chat.IsChatTarget(format) && status >= 200 && status < 300 {
		return http.StatusText(status) + ", but not the target's answer for a posted message"
	}
	return http.StatusText(status)
}
