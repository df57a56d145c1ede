package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// Without --allow-private-targets, loopback, private, link-local/metadata addresses and
// names resolving to loopback are refused at dial time: the attempt is recorded as an
// error and nothing is sent. Only loopback receivers exist here, so no packet can leave.
// Such URLs are refused at create time too, so the endpoints are made by an earlier run of
// the server with the flag, as an operator who later drops it would have them.
func TestEgressGuardRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
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

	// Both runs use one database: the test's SQLite directory, or one PostgreSQL schema when
	// the end-to-end suites run on PostgreSQL.
	dir, dbURL := t.TempDir(), ""
	if os.Getenv(apptest.BackendEnv) == "postgres" {
		dbURL = pgtest.URL(t)
	}
	earlier, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, AdminToken: apptest.AdminToken, RoomRateBurst: 1, AllowPrivateTargets: true,
		Version: "test", Clock: clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)),
	}, apptest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := earlier.Start(); err != nil {
		t.Fatal(err)
	}
	create := func(body string) chat.EndpointView {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+earlier.Addr()+"/api/v1/endpoints", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v chat.EndpointView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create endpoint %s: %d %v", body, resp.StatusCode, err)
		}
		return v
	}
	eps := map[string]string{}
	for name, u := range urls {
		eps[name] = create(fmt.Sprintf(`{"url":%q,"event_types":[%q]}`, u, chat.EventRoomCreate)).ID
	}
	rbm := create(fmt.Sprintf(`{"url":%q,"event_types":["*"],"format":"rbm"}`, rc.URL))
	if err := earlier.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	hitsBefore := rc.count() // the rbm handshake of the earlier run

	s := apptest.Start(t, apptest.Options{FakeClock: true, DataDir: dir, Config: func(c *app.Config) {
		c.AllowPrivateTargets = false
		if dbURL != "" {
			c.DatabaseURL = dbURL
		}
	}})
	mkRoom(t, s, "r1")
	for name, id := range eps {
		f := waitStatus(t, s, id, "", chat.DeliveryFailed, 1)[0]
		d := delivery(t, s, f.ID)
		if len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "not allowed") || d.Attempts[0].StatusCode != 0 {
			t.Fatalf("%s: attempt %+v", name, d.Attempts)
		}
	}
	// Verification goes through the same guard.
	if r := s.Do("POST", "/api/v1/endpoints/"+rbm.ID+"/verify", nil); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "not allowed") {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	if n := rc.count() - hitsBefore; n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}
