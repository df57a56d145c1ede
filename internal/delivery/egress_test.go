package delivery_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// Without --allow-private-targets, loopback, private, link-local/metadata addresses and
// names resolving to loopback are refused at dial time: the attempt is recorded as an
// error and nothing is sent. Only loopback receivers exist here, so no packet can leave.
func TestEgressGuardRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{FakeClock: true, Config: func(c *app.Config) { c.AllowPrivateTargets = false }})
	rc := newReceiver(t, nil)
	ln6, err := net.Listen("tcp", "[::1]:0")
	v6 := ""
	if err == nil {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Errorf("a request reached [::1]") })}
		go srv.Serve(ln6) //nolint:errcheck // ends with Close
		t.Cleanup(func() { srv.Close() })
		v6 = "http://" + ln6.Addr().String() + "/hook"
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	urls := map[string]string{
		"loopback":       rc.URL + "/hook",
		"private":        "http://10.0.0.1/hook",
		"metadata":       "http://169.254.169.254/latest/meta-data",
		"name->loopback": "http://localhost:" + port + "/hook",
	}
	if v6 != "" {
		urls["ipv6 loopback"] = v6
	} else {
		urls["ipv6 loopback"] = "http://[::1]:9/hook"
	}
	eps := map[string]string{}
	for name, u := range urls {
		eps[name] = createEndpoint(t, s, map[string]any{"url": u, "event_types": []string{chat.EventRoomCreate}}).ID
	}
	mkRoom(t, s, "r1")
	for name, id := range eps {
		f := waitStatus(t, s, id, "", chat.DeliveryFailed, 1)[0]
		d := delivery(t, s, f.ID)
		if len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "not allowed") || d.Attempts[0].StatusCode != 0 {
			t.Fatalf("%s: attempt %+v", name, d.Attempts)
		}
	}
	// Verification goes through the same guard.
	rbm := s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": rc.URL, "event_types": []string{"*"}, "format": "rbm"})
	var v chat.EndpointView
	rbm.JSON(t, &v)
	if v.Status != chat.EndpointUnverified {
		t.Fatalf("rbm endpoint on loopback verified: %+v", v)
	}
	if r := s.Do("POST", "/api/v1/endpoints/"+v.ID+"/verify", nil); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "not allowed") {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	if rc.count() != 0 {
		t.Fatalf("the loopback receiver got %d requests", rc.count())
	}
}
