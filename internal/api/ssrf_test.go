package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
)

// ssrfCorpus are endpoint URLs no delivery can ever be made to without
// --allow-private-targets: every literal form of loopback, private, link-local, metadata and
// unspecified addresses, and localhost.
var ssrfCorpus = []string{
	"http://127.0.0.1:9099", "http://127.0.0.1./", "http://127.1/", "http://2130706433/", "http://0x7f000001/",
	"http://0x7f.0.0.1/", "http://0177.0.0.1/", "http://017700000001/", "http://0.0.0.0:8080/", "http://0/",
	"http://localhost:8080/hook", "http://LocalHost/", "http://svc.localhost/", "http://[::1]:9099/", "http://[::]/",
	"http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:169.254.169.254]/", "http://[2002:7f00:1::]/",
	"http://[2002:a9fe:a9fe::1]/", "http://[64:ff9b::7f00:1]/", "http://[fe80::1%25eth0]/", "http://[fc00::1]/",
	"http://[fd00:ec2::254]/latest/meta-data/", "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.0.1/",
	"http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/",
	"http://0251.0376.0251.0376/", "http://100.100.100.200/", "http://168.63.129.16/", "http://192.0.0.192/",
	"https://100.64.0.1/",
}

// Without --allow-private-targets an endpoint that can never be delivered to is refused at
// creation and on a URL change, with a message naming the flag; names that need DNS are
// accepted (and checked at every dial).
func TestEndpointURLPrivateTargetsRefusedAtTheAPI(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.AllowPrivateTargets = false }})
	for _, u := range ssrfCorpus {
		r := s.Do("POST", "/api/v1/endpoints", map[string]any{"url": u, "event_types": []string{"*"}})
		if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_argument" || !strings.Contains(string(r.Body), "--allow-private-targets") {
			t.Errorf("POST endpoint %s: %d %s", u, r.Status, r.Body)
		}
	}
	ep := s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": "https://hooks.example.com/chat", "event_types": []string{"*"}}).Map(t)
	id := ep["id"].(string)
	for _, u := range ssrfCorpus {
		r := s.Do("PATCH", "/api/v1/endpoints/"+id, map[string]any{"url": u})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "--allow-private-targets") {
			t.Errorf("PATCH endpoint url %s: %d %s", u, r.Status, r.Body)
		}
	}
	for _, u := range []string{"https://127.0.0.1.nip.io/", "http://localhost.example.com/", "http://93.184.215.14:8080/"} {
		s.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": u, "event_types": []string{"*"}})
	}

	// With the flag the same URLs are accepted.
	open := apptest.Start(t, apptest.Options{})
	for _, u := range ssrfCorpus[:5] {
		open.Must(http.StatusCreated, "POST", "/api/v1/endpoints", map[string]any{"url": u, "event_types": []string{"*"}})
	}
}
