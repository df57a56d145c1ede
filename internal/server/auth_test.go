package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/server"
)

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryAPIRouteRefusesMissingOrWrongToken walks every operation of the served OpenAPI
// document (generated from the route registrations, so a new route is covered as soon as
// it exists) and calls it without a token, with a wrong token, with a wrong scheme, and with
// the admin token's hash: each answers 401 with the unauthenticated error body, before any
// handler runs (ids that do not exist would otherwise answer 404).
func TestEveryAPIRouteRefusesMissingOrWrongToken(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := s.DoRaw("GET", "/openapi.json", nil)
	r.JSON(t, &doc)
	sum := func(tok string) string { return "Bearer " + tok }
	wrong := map[string]string{
		"missing":           "",
		"empty bearer":      "Bearer ",
		"wrong token":       sum("not-the-admin-token"),
		"token prefix":      sum(apptest.AdminToken[:len(apptest.AdminToken)-1]),
		"token plus suffix": sum(apptest.AdminToken + "x"),
		"basic scheme":      "Basic " + apptest.AdminToken,
		"lower-case scheme": "bearer " + apptest.AdminToken,
		"raw token":         apptest.AdminToken,
		"hash of token":     sum(hashOf(apptest.AdminToken)),
	}
	var ops []string
	for path, methods := range doc.Paths {
		for method := range methods {
			m := strings.ToUpper(method)
			switch m {
			case "GET", "POST", "PUT", "PATCH", "DELETE":
				ops = append(ops, m+" "+path)
			}
		}
	}
	sort.Strings(ops)
	apiOps := 0
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		path = api.Prefix + path
		apiOps++
		concrete := pathParam.ReplaceAllString(path, "x")
		for name, auth := range wrong {
			var hdr []string
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			got := s.DoRaw(method, concrete, `{}`, hdr...)
			if got.Status != http.StatusUnauthorized || got.ErrorCode() != "unauthenticated" {
				t.Errorf("%s %s with %s: %d %s, want 401 unauthenticated", method, concrete, name, got.Status, got.Body)
			}
		}
	}
	// Paths under /api/v1 that no route serves, or that try to climb out of it, answer
	// nothing but an error without a token.
	for _, p := range []string{"/api/v1/", "/api/v1/nope", "/api/v1/../api/v1/rooms", "/api/v1/rooms/%2e%2e/messages"} {
		if got := s.DoRaw("GET", p, nil); got.Status < 300 {
			t.Errorf("GET %s without a token: %d %s", p, got.Status, got.Body)
		}
	}
	// Sendbird's settings API authenticates with Api-Token, never with a wrong one.
	for _, method := range []string{"GET", "PUT"} {
		for _, tok := range []string{"", "wrong", apptest.AdminToken + "x", hashOf(apptest.AdminToken)} {
			var hdr []string
			if tok != "" {
				hdr = []string{"Api-Token", tok}
			}
			if got := s.DoRaw(method, "/v3/applications/settings/webhook", `{"enabled":true}`, hdr...); got.Status != http.StatusUnauthorized {
				t.Errorf("%s sendbird settings with Api-Token %q: %d %s", method, tok, got.Status, got.Body)
			}
		}
	}
	if apiOps < 30 {
		t.Fatalf("only %d /api/v1 operations in the OpenAPI document: is it complete?", apiOps)
	}
	t.Logf("%d /api/v1 operations × %d bad credentials refused", apiOps, len(wrong))
}

func hashOf(tok string) string { return server.HashToken(tok) }
