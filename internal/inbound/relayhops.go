package inbound

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/chathooks/chathooks/internal/relay"
)

// maxRecordedHops bounds the hop count recorded from a request (any larger value is a
// loop or garbage; it stops every relay either way).
const maxRecordedHops = 100

// relayHops reads the hop count a chathooks relay puts on what it posts: 0 (posted
// directly) when the header is absent or not a positive number.
func relayHops(h http.Header) int {
	v := strings.TrimSpace(h.Get(relay.HopsHeader))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(n, maxRecordedHops)
}
