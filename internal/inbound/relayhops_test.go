package inbound_test

import (
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/relay"
)

// Every dialect records the relay hop header on the message it posts (what stops relay
// loops); a missing or malformed header means the message was posted directly.
func TestRelayHopsRecorded(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			id := "hops-" + d.name
			room(t, s, id)
			h := newHook(t, s, id, "Relay")
			for _, c := range []struct {
				header string
				want   int
			}{{"2", 2}, {"", 0}, {"x", 0}, {"-1", 0}, {"1000", 100}} {
				var hdr []string
				if c.header != "" {
					hdr = []string{relay.HopsHeader, c.header}
				}
				if r := post(t, d.url(h), d.ct, d.body, hdr...); r.Status != 200 {
					t.Fatalf("post: %d %s", r.Status, r.Body)
				}
				if got := lastMessage(t, s, id).RelayHops; got != c.want {
					t.Errorf("header %q: relay_hops %d, want %d", c.header, got, c.want)
				}
			}
		})
	}
}
