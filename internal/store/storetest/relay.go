package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
)

// testRelay covers what relaying to chat tools stores: an endpoint's room scope, template
// and hop limit (through insert, update, reads and the routing table) and a message's
// relay hop count.
func testRelay(t *testing.T, s chat.Store) {
	ctx := context.Background()
	e := endpoint("rel", "", chat.EventMessageSend)
	e.Format, e.URL = chat.TargetGoogleChat, "https://chat.example.com/v1/spaces/S/messages?key=****&token=****"
	e.RoomIDs, e.Template, e.MaxHops = []string{"r1", "r2"}, `{"text":{{json .Text}}}`, 2
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(e) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("plain", "", chat.EventMessageSend)) })
	got, err := s.GetEndpoint(ctx, "rel")
	if err != nil || !slices.Equal(got.RoomIDs, e.RoomIDs) || got.Template != e.Template || got.MaxHops != 2 || got.Format != chat.TargetGoogleChat {
		t.Fatalf("get: %v %+v", err, got)
	}
	plain, err := s.GetEndpoint(ctx, "plain")
	if err != nil || plain.RoomIDs != nil || plain.Template != "" || plain.MaxHops != 0 {
		t.Fatalf("endpoint without relay settings: %v %+v", err, plain)
	}

	routes := func() *chat.Routes {
		var r *chat.Routes
		write(t, s, func(tx chat.Tx) error { var err error; r, err = tx.EndpointRoutes(); return err })
		return r
	}
	match := func(r *chat.Routes, room string, hops int) []string {
		ev := chat.Event{Type: chat.EventMessageSend, RoomID: room}
		out := r.MatchEvent(&ev, hops, "")
		slices.Sort(out)
		return out
	}
	r := routes()
	if m := match(r, "r1", 0); !slices.Equal(m, []string{"plain", "rel"}) {
		t.Errorf("scoped room, direct message: %v", m)
	}
	if m := match(r, "r3", 0); !slices.Equal(m, []string{"plain"}) {
		t.Errorf("room outside the scope: %v", m)
	}
	if m := match(r, "r2", 1); !slices.Equal(m, []string{"plain", "rel"}) {
		t.Errorf("one hop under max_hops 2: %v", m)
	}
	if m := match(r, "r2", 2); !slices.Equal(m, []string{"plain"}) {
		t.Errorf("two hops at max_hops 2 (a chat target stops it; others still get it): %v", m)
	}

	// Updates replace the settings; the routing table follows.
	got.RoomIDs, got.Template, got.MaxHops = nil, "", 0
	write(t, s, func(tx chat.Tx) error { return tx.UpdateEndpoint(got) })
	got, err = s.GetEndpoint(ctx, "rel")
	if err != nil || len(got.RoomIDs) != 0 || got.Template != "" || got.MaxHops != 0 {
		t.Fatalf("after clearing: %v %+v", err, got)
	}
	r = routes()
	if m := match(r, "r3", 0); !slices.Equal(m, []string{"plain", "rel"}) {
		t.Errorf("unscoped: %v", m)
	}
	if m := match(r, "r3", 1); !slices.Equal(m, []string{"plain"}) {
		t.Errorf("relayed message at the default hop limit: %v", m)
	}
	list, err := s.ListEndpoints(ctx, "", 0)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %d", err, len(list))
	}

	setupRoom(t, s, "hr", user("a", chat.KindHuman))
	m := msg("hr", "hm1", "hm1", t0)
	m.RelayHops = 2
	write(t, s, func(tx chat.Tx) error { return tx.InsertMessage(m) })
	back, err := s.GetMessage(ctx, "hr", "hm1")
	if err != nil || back.RelayHops != 2 {
		t.Fatalf("message relay hops: %v %+v", err, back)
	}
	write(t, s, func(tx chat.Tx) error {
		in, err := tx.GetMessage("hr", "hm1")
		if err != nil || in.RelayHops != 2 {
			t.Errorf("message relay hops in a transaction: %v %+v", err, in)
		}
		return err
	})
	ms, err := s.ListMessages(ctx, chat.MessageQuery{RoomID: "hr", Limit: 10})
	if err != nil || len(ms) != 1 || ms[0].RelayHops != 2 {
		t.Fatalf("list messages: %v %+v", err, ms)
	}
}
