package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// specRoutes are the /api/v1 routes of SPEC §2 (method and path, as OpenAPI spells them).
var specRoutes = []string{
	"POST /users", "GET /users", "GET /users/{id}", "DELETE /users/{id}",
	"PUT /users/{id}/presence", "POST /users/{id}/blocks", "DELETE /users/{id}/blocks/{target_id}",
	"POST /rooms", "GET /rooms", "GET /rooms/{id}", "PATCH /rooms/{id}", "DELETE /rooms/{id}",
	"GET /rooms/{id}/members", "POST /rooms/{id}/members", "DELETE /rooms/{id}/members/{user_id}", "POST /rooms/{id}/invites",
	"POST /rooms/{id}/messages", "GET /rooms/{id}/messages", "GET /rooms/{id}/messages/{message_id}",
	"PATCH /rooms/{id}/messages/{message_id}", "DELETE /rooms/{id}/messages/{message_id}",
	"POST /rooms/{id}/read", "GET /rooms/{id}/stream",
	"POST /rooms/{id}/webhooks", "GET /rooms/{id}/webhooks", "GET /webhooks/{id}", "POST /webhooks/{id}/regenerate", "DELETE /webhooks/{id}",
	"POST /endpoints", "GET /endpoints", "GET /endpoints/{id}", "PATCH /endpoints/{id}", "DELETE /endpoints/{id}",
	"POST /endpoints/{id}/verify", "POST /endpoints/{id}/rotate-secret", "POST /endpoints/{id}/replay",
	"GET /endpoints/{id}/deliveries", "GET /deliveries/{id}", "POST /deliveries/{id}/retry", "GET /event-types",
}

// The OpenAPI document is generated from the registered handlers; this checks it is served
// as OpenAPI 3.1, that every SPEC route is in it, and that each operation is described.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	r := s.DoRaw("GET", "/openapi.json", nil)
	if r.Status != 200 {
		t.Fatalf("openapi.json: %d", r.Status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.JSON(t, &doc)
	if doc.OpenAPI != "3.1.0" || len(doc.Servers) == 0 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi %q servers %+v", doc.OpenAPI, doc.Servers)
	}
	have := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				OperationID string         `json:"operationId"`
				Summary     string         `json:"summary"`
				Responses   map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // path-level parameters
			}
			if op.OperationID == "" || op.Summary == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s is not described: %s", method, path, raw)
			}
			have[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, want := range specRoutes {
		if !have[want] {
			t.Errorf("OpenAPI lacks %s", want)
		}
	}
	// And every documented operation answers (not 404/405 from the router) when called.
	for route := range have {
		method, path, _ := strings.Cut(route, " ")
		if method == "GET" && strings.HasSuffix(path, "/stream") {
			continue
		}
		p := strings.NewReplacer("{id}", "x", "{target_id}", "y", "{user_id}", "y", "{message_id}", "m").Replace(path)
		res := s.Do(method, "/api/v1"+p, "{}")
		if res.Status == 405 || (res.Status == 404 && res.ErrorCode() == "") {
			t.Errorf("%s is documented but not routed (%d %s)", route, res.Status, res.Body)
		}
	}
}
