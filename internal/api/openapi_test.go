package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

// specRoutes are the /api/v1 routes of the product contract (method and path, as OpenAPI spells them).
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

// moreRoutes are /api/v1 routes beyond those.
var moreRoutes = []string{"POST /endpoints/{id}/preview", "GET /settings", "PATCH /settings"}

// The OpenAPI document is generated from the registered handlers; this checks it is served
// as OpenAPI 3.1, that every contract route is in it, and that each operation is described.
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
	have := map[string]bool{} // "METHOD /path" as the document spells it
	root := map[string]bool{} // operations served at the root, outside /api/v1
	ops := map[string]docOp{}
	for path, pathOps := range doc.Paths {
		for method, raw := range pathOps {
			var op docOp
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // path-level parameters
			}
			if op.OperationID == "" || op.Summary == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s is not described: %s", method, path, raw)
			}
			key := strings.ToUpper(method) + " " + path
			have[key] = true
			ops[key] = op
			if len(op.Servers) > 0 && op.Servers[0].URL == "/" {
				root[key] = true
			}
		}
	}
	for _, want := range append(slices.Clone(specRoutes), moreRoutes...) {
		if !have[want] || root[want] {
			t.Errorf("OpenAPI lacks %s under /api/v1", want)
		}
	}
	// Every route of the server's route table is described; the API mount's operations are
	// huma's, checked above and below.
	// The console's pages and the session calls behind them are the browser UI, not the
	// HTTP API.
	for _, rt := range s.App.Routes() {
		if rt.Pattern == "/api/v1/" || rt.UI {
			continue
		}
		if !root[rt.Pattern] {
			t.Errorf("route %q is not described in /openapi.json at the server root", rt.Pattern)
		}
	}
	// Incoming webhooks: bodies and error answers; Sendbird settings: the Api-Token header.
	for _, key := range []string{"POST /incomingwebhooks/{id}", "POST /v1/spaces/{space}/messages", "POST /services/{room}/{id}/{token}", "POST /hooks/{token}"} {
		op := ops[key]
		if op.RequestBody == nil || len(op.Responses) < 5 || op.Responses["200"] == nil || op.Responses["429"] == nil {
			t.Errorf("%s: body or answers not described: %+v", key, op)
		}
	}
	for _, key := range []string{"GET /v3/applications/settings/webhook", "PUT /v3/applications/settings/webhook"} {
		found := false
		for _, p := range ops[key].Parameters {
			found = found || (p.Name == "Api-Token" && p.In == "header" && p.Required)
		}
		if !found || ops[key].Responses["401"] == nil {
			t.Errorf("%s does not describe the Api-Token header: %+v", key, ops[key])
		}
	}
	// And every documented operation answers (not 404/405 from the router) when called.
	for route := range have {
		method, path, _ := strings.Cut(route, " ")
		if method == "GET" && strings.HasSuffix(path, "/stream") {
			continue
		}
		p := strings.NewReplacer("{id}", "x", "{target_id}", "y", "{user_id}", "y", "{message_id}", "m", "{space}", "x", "{room}", "x", "{token}", "t").Replace(path)
		if !root[route] {
			p = "/api/v1" + p
		}
		res := s.Do(method, p, "{}")
		if res.Status == 405 || (res.Status == 404 && (string(res.Body) == "404 page not found\n" || (!root[route] && res.ErrorCode() == ""))) {
			t.Errorf("%s is documented but not routed (%d %s)", route, res.Status, res.Body)
		}
	}
}

type docOp struct {
	OperationID string         `json:"operationId"`
	Summary     string         `json:"summary"`
	Responses   map[string]any `json:"responses"`
	RequestBody any            `json:"requestBody"`
	Servers     []struct{ URL string }
	Parameters  []struct {
		Name, In string
		Required bool
	}
}
