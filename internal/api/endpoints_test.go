package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// Every event type has a schema in the catalog, and the data of real events of every type
// validates against it.
func TestEventCatalogSchemasValidateRealEvents(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	var cat api.List[api.EventType]
	s.Must(http.StatusOK, "GET", "/api/v1/event-types", nil).JSON(t, &cat)
	have := map[string]map[string]any{}
	for _, it := range cat.Items {
		have[it.Type] = it.Schema
	}
	all := chat.AllEventTypes()
	for _, typ := range all {
		if sc := have[typ]; sc == nil || sc["type"] != "object" || sc["properties"] == nil {
			t.Fatalf("event type %s has no schema: %v", typ, sc)
		}
	}
	if len(have) != len(all) {
		t.Fatalf("catalog has %d types, want %d", len(have), len(all))
	}

	ok := func(method, path string, body any) apptest.Response {
		t.Helper()
		r := s.Do(method, path, body)
		if r.Status >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		return r
	}
	// One event of every type.
	ok("POST", "/api/v1/users", map[string]any{"id": "a", "name": "A"})
	ok("POST", "/api/v1/users", map[string]any{"id": "b", "name": "B", "kind": "agent"})
	ok("POST", "/api/v1/users", map[string]any{"id": "c", "name": "C"})
	ok("POST", "/api/v1/rooms", map[string]any{"id": "r", "name": "R", "member_ids": []string{"a"}})
	ok("PATCH", "/api/v1/rooms/r", map[string]any{"name": "R2"})
	ok("POST", "/api/v1/rooms/r/invites", map[string]any{"inviter_id": "a", "user_ids": []string{"c"}})
	ok("POST", "/api/v1/rooms/r/members", map[string]any{"user_id": "b"})
	var m chat.Message
	ok("POST", "/api/v1/rooms/r/messages", map[string]any{"sender_id": "a", "text": "hi @ab"}).JSON(t, &m)
	ok("PATCH", "/api/v1/rooms/r/messages/"+m.ID, map[string]any{"text": "edited"})
	ok("POST", "/api/v1/rooms/r/read", map[string]any{"user_id": "b", "message_id": m.ID})
	ok("DELETE", "/api/v1/rooms/r/messages/"+m.ID, nil)
	ok("DELETE", "/api/v1/rooms/r/members/b", nil)
	ok("POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "b"})
	ok("DELETE", "/api/v1/users/a/blocks/b", nil)
	ok("DELETE", "/api/v1/rooms/r", nil)
	// Operational events: a delivery that dies at its only attempt, an endpoint disabled.
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer rc.Close()
	var ep chat.EndpointView
	ok("POST", "/api/v1/endpoints", map[string]any{"url": rc.URL, "event_types": []string{chat.EventUserBlock}, "retry": map[string]any{"max_attempts": 1}}).JSON(t, &ep)
	ok("POST", "/api/v1/users/a/blocks", map[string]any{"target_id": "c"})
	apptest.Eventually(t, 10*time.Second, "a delivery:dead event", func() bool {
		evs, _, err := s.Store.Events(context.Background(), 0, 1000)
		return err == nil && slices.ContainsFunc(evs, func(e chat.Event) bool { return e.Type == chat.EventDeliveryDead })
	})
	ok("PATCH", "/api/v1/endpoints/"+ep.ID, map[string]any{"status": "disabled"})

	validate := func(typ string, payload []byte) {
		t.Helper()
		reg := huma.NewMapRegistry("#/$defs/", huma.DefaultSchemaNamer)
		schema := reg.Schema(api.PayloadType(typ), false, typ)
		var v any
		if err := json.Unmarshal(payload, &v); err != nil {
			t.Fatal(err)
		}
		res := &huma.ValidateResult{}
		huma.Validate(reg, schema, huma.NewPathBuffer([]byte{}, 0), huma.ModeReadFromServer, v, res)
		if len(res.Errors) > 0 {
			t.Fatalf("%s payload %s does not validate: %v", typ, payload, res.Errors)
		}
	}
	evs, _, err := s.Store.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, ev := range evs {
		validate(ev.Type, ev.Payload)
		checked[ev.Type] = true
	}
	for _, typ := range append(slices.Clone(chat.EventTypes), chat.EventDeliveryDead, chat.EventEndpointDisabled) {
		if !checked[typ] {
			t.Errorf("no real %s event was validated", typ)
		}
	}
	// endpoint:failing and endpoint:recovered share endpoint:disabled's data type; their
	// examples (the catalog's, test events') validate too.
	for _, typ := range all {
		validate(typ, chat.ExamplePayload(typ, time.Now()))
	}
}
