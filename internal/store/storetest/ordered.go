package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// testOrdered covers fifo endpoints: the ordering is stored and routed, and an ordered
// claim takes the endpoint's unfinished deliveries in commit order, failed ones whatever
// their due time, and nothing while another owner holds one of them.
func testOrdered(t *testing.T, s chat.Store) {
	ctx := context.Background()
	fifo := endpoint("f1", "", "*")
	fifo.Ordering = chat.OrderingFIFO
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(fifo) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("c1", "", "*")) })
	if e, err := s.GetEndpoint(ctx, "f1"); err != nil || !e.FIFO() {
		t.Fatalf("fifo endpoint: %v %+v", err, e)
	}
	if e, err := s.GetEndpoint(ctx, "c1"); err != nil || e.FIFO() || e.Ordering != chat.OrderingConcurrent {
		t.Fatalf("default ordering: %v %q", err, e.Ordering)
	}
	var routes *chat.Routes
	write(t, s, func(tx chat.Tx) error { var err error; routes, err = tx.EndpointRoutes(); return err })
	if !routes.FIFO("f1") || routes.FIFO("c1") {
		t.Fatalf("routes: fifo f1 %v, c1 %v", routes.FIFO("f1"), routes.FIFO("c1"))
	}

	ev := chat.Event{ID: "evt_fifo", Type: chat.EventRoomCreate, CreatedAt: t0, Payload: []byte(`{}`)}
	const n = 8
	var ds []chat.Delivery
	for i := range n {
		// Ids sort against commit order: the claim must follow the order rows were written.
		ds = append(ds, chat.Delivery{ID: fmt.Sprintf("F%d", n-i), EventID: ev.ID, EventType: ev.Type, EndpointID: "f1", CreatedAt: t0})
	}
	write(t, s, func(tx chat.Tx) error {
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		for _, d := range ds { // one statement each: commit order is statement order
			if err := tx.InsertDeliveries([]chat.Delivery{d}); err != nil {
				return err
			}
		}
		return nil
	})
	claim := func(owner string, now time.Time, first int) []string {
		var got []chat.Claimed
		write(t, s, func(tx chat.Tx) error {
			var err error
			got, err = tx.ClaimDeliveries(chat.Claim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute),
				Wants: []chat.ClaimWant{{EndpointID: "f1", First: first, Ordered: true}}})
			return err
		})
		var out []string
		for _, c := range got {
			out = append(out, c.ID)
			if c.EndpointID != "f1" || c.EventID != ev.ID {
				t.Fatalf("claimed %+v", c)
			}
		}
		return out
	}
	now := t0.Add(time.Second)
	if got := claim("A", now, 3); fmt.Sprint(got) != "[F8 F7 F6]" {
		t.Fatalf("ordered claim: %v", got)
	}
	if got := claim("B", now, 3); len(got) != 0 {
		t.Fatalf("another owner claimed while A holds the head: %v", got)
	}
	if got := claim("A", now, 2); fmt.Sprint(got) != "[F5 F4]" {
		t.Fatalf("the holder's next claim: %v", got)
	}
	// The head fails with a retry an hour away; the rest succeed. A restart (released
	// leases) claims the failed head first, not yet due, then what follows.
	write(t, s, func(tx chat.Tx) error {
		rs := []chat.DeliveryResult{{ID: "F8", EndpointID: "f1", Owner: "A", Status: chat.DeliveryFailed,
			NextAt: t0.Add(time.Hour), LeaseUntil: t0.Add(time.Hour), Attempt: chat.Attempt{At: now, StatusCode: 503}}}
		for _, id := range []string{"F7", "F6"} {
			rs = append(rs, chat.DeliveryResult{ID: id, EndpointID: "f1", Owner: "A", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: now, StatusCode: 200}})
		}
		return tx.CompleteDeliveries(rs)
	})
	write(t, s, func(tx chat.Tx) error { return tx.ReleaseDeliveries("A", nil) })
	var got []chat.Claimed
	write(t, s, func(tx chat.Tx) error {
		var err error
		got, err = tx.ClaimDeliveries(chat.Claim{Owner: "B", Now: now, LeaseUntil: now.Add(time.Minute),
			Wants: []chat.ClaimWant{{EndpointID: "f1", First: 3, Ordered: true}}})
		return err
	})
	if len(got) != 3 || got[0].ID != "F8" || got[1].ID != "F5" || got[2].ID != "F4" {
		t.Fatalf("claim after a release: %+v", got)
	}
	if got[0].AttemptCount != 1 || !got[0].Due.Equal(t0.Add(time.Hour)) || !got[1].Due.Equal(t0) || got[1].AttemptCount != 0 {
		t.Fatalf("claimed due times and attempts: %+v", got)
	}
	// When B's leases expire, A may take over, in order again.
	if got := claim("A", now.Add(2*time.Minute), 10); fmt.Sprint(got) != "[F8 F5 F4 F3 F2 F1]" {
		t.Fatalf("claim after B's leases ended: %v", got)
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteEndpoint("f1") })
	if _, err := s.GetDelivery(ctx, "F1"); chat.ErrorCode(err) != chat.CodeNotFound {
		t.Fatalf("deliveries outlived their fifo endpoint: %v", err)
	}
}

// testAlertState covers the workspace settings and the endpoint health states alerts
// announce (gone with their endpoint).
func testAlertState(t *testing.T, s chat.Store) {
	ctx := context.Background()
	if ws, err := s.WorkspaceSettings(ctx); err != nil || ws.AlertsRoomID != "" || !ws.UpdatedAt.IsZero() {
		t.Fatalf("fresh settings: %v %+v", err, ws)
	}
	write(t, s, func(tx chat.Tx) error {
		return tx.SetWorkspaceSettings(chat.WorkspaceSettings{AlertsRoomID: "alerts", UpdatedAt: t0})
	})
	write(t, s, func(tx chat.Tx) error {
		ws, err := tx.WorkspaceSettings()
		if err != nil || ws.AlertsRoomID != "alerts" {
			return fmt.Errorf("settings in a transaction: %v %+v", err, ws)
		}
		return nil
	})
	if ws, err := s.WorkspaceSettings(ctx); err != nil || ws.AlertsRoomID != "alerts" || !ws.UpdatedAt.Equal(t0) {
		t.Fatalf("settings: %v %+v", err, ws)
	}
	if h, err := s.AdminTokenHash(ctx); err != nil || h != "" {
		t.Fatalf("the settings touched the admin token: %q %v", h, err)
	}

	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("h1", "", "*")) })
	if st, err := s.EndpointHealth(ctx, "h1"); err != nil || st != "" {
		t.Fatalf("fresh health: %q %v", st, err)
	}
	for _, st := range []string{chat.HealthFailing, chat.HealthOK} {
		write(t, s, func(tx chat.Tx) error { return tx.SetEndpointHealth("h1", st, t0) })
		write(t, s, func(tx chat.Tx) error {
			if got, err := tx.EndpointHealth("h1"); err != nil || got != st {
				return fmt.Errorf("health in a transaction: %q %v, want %q", got, err, st)
			}
			return nil
		})
	}
	// An endpoint deleted meanwhile: nothing to record, no error.
	write(t, s, func(tx chat.Tx) error { return tx.SetEndpointHealth("nope", chat.HealthFailing, t0) })
	if st, err := s.EndpointHealth(ctx, "nope"); err != nil || st != "" {
		t.Fatalf("health of no endpoint: %q %v", st, err)
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteEndpoint("h1") })
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("h1", "", "*")) })
	if st, err := s.EndpointHealth(ctx, "h1"); err != nil || st != "" {
		t.Fatalf("health outlived its endpoint: %q %v", st, err)
	}
}
