package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// endpoints create relays a room to a chat tool: messages only by default, scoped by
// --rooms, in commit order with --ordering fifo, the URL shown redacted and no secret
// printed.
func TestEndpointsCreateChatFormat(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "alerts", "name": "Alerts"})
	out := mustRun(t, s, "endpoints", "create", "https://hooks.chime.aws/incomingwebhooks/0f2c6a8e?token=SECRETTOKEN",
		"--format", "chime", "--rooms", "alerts", "--ordering", "fifo")
	for _, want := range []string{"(chime, active) -> https://hooks.chime.aws/incomingwebhooks/****?token=****",
		"events: group_channel:message_send", "rooms: alerts", "ordering: fifo"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRETTOKEN") || strings.Contains(out, "secret:") {
		t.Errorf("output shows a secret:\n%s", out)
	}
}
