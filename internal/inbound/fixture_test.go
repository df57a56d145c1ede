package inbound_test

import (
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// fixture is a server with webhooks in every state: valid, regenerated (old URLs), deleted,
// and one whose room was deleted.
type fixture struct {
	s                                 *apptest.Server
	valid, regenerated, deleted, gone hook
}

func setup(t *testing.T, o apptest.Options) fixture {
	t.Helper()
	s := apptest.Start(t, o)
	room(t, s, "r", "alice", "bob")
	room(t, s, "gone")
	f := fixture{s: s, valid: newHook(t, s, "r", "Alerts"), regenerated: newHook(t, s, "r", "Old"), deleted: newHook(t, s, "r", "Deleted"), gone: newHook(t, s, "gone", "Gone")}
	s.Must(200, "POST", "/api/v1/webhooks/"+f.regenerated.ID+"/regenerate", nil)
	s.Must(204, "DELETE", "/api/v1/webhooks/"+f.deleted.ID, nil)
	s.Must(204, "DELETE", "/api/v1/rooms/gone", nil)
	return f
}

const neverIssued = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// wrongToken is u with the webhook's token replaced by one never issued.
func wrongToken(u string, h hook) string { return strings.Replace(u, h.Token, neverIssued, 1) }

// unknownID is u with the webhook id replaced by one that never existed.
func unknownID(u string, h hook) string {
	return strings.Replace(u, h.ID, "wh_00000000000000000000000000", 1)
}
