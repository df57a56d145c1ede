package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// Route labels are the route pattern alone: the API operation's pattern (also when
// authentication fails), never the method, never the API mount; "unmatched" for paths no
// route serves. Incoming posts are counted by dialect and status.
func TestMetricsRouteLabelsAndPostsByDialect(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R"})
	var h struct {
		URLs struct{ Chime, Mattermost string }
	}
	s.Must(http.StatusCreated, "POST", "/api/v1/rooms/r/webhooks", map[string]any{"name": "CI"}).JSON(t, &h)
	s.Must(http.StatusOK, "GET", "/api/v1/rooms/r", nil)
	s.DoRaw("GET", "/api/v1/rooms/r", nil) // 401
	s.Do("GET", "/api/v1/no/such/route", nil)
	s.DoRaw("GET", "/nothing-here", nil)
	s.DoRaw("GET", "/healthz", nil)
	for _, body := range []string{`{"Content":"hi"}`, `{"Content":""}`} {
		s.DoRaw("POST", strings.TrimPrefix(h.URLs.Chime, s.URL), body)
	}
	s.DoRaw("POST", strings.TrimPrefix(h.URLs.Mattermost, s.URL), `{"text":"hi"}`)
	s.DoRaw("POST", "/hooks/wrong", `{"text":"hi"}`)

	m := string(s.DoRaw("GET", "/metrics", nil).Body)
	for _, want := range []string{
		`chathooks_http_requests_total{code="200",method="GET",route="/api/v1/rooms/{id}"} 1`,
		`chathooks_http_requests_total{code="401",method="GET",route="/api/v1/rooms/{id}"} 1`,
		`chathooks_http_requests_total{code="404",method="GET",route="unmatched"} 2`,
		`chathooks_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`chathooks_http_requests_total{code="200",method="POST",route="/incomingwebhooks/{id}"} 1`,
		`chathooks_incoming_posts_total{code="200",dialect="chime"} 1`,
		`chathooks_incoming_posts_total{code="400",dialect="chime"} 1`,
		`chathooks_incoming_posts_total{code="200",dialect="mattermost"} 1`,
		`chathooks_incoming_posts_total{code="400",dialect="mattermost"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, label := range regexp.MustCompile(`route="([^"]*)"`).FindAllStringSubmatch(m, -1) {
		if l := label[1]; l == "/api/v1/" || strings.ContainsAny(l, " ") || strings.HasPrefix(l, "GET") || strings.HasPrefix(l, "POST") {
			t.Errorf("route label %q", l)
		}
	}
}
