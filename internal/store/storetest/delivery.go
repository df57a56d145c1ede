package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/ids"
)

func endpoint(id, agent string, types ...string) chat.Endpoint {
	return chat.Endpoint{ID: id, URL: "https://example.com/" + id, AgentID: agent, EventTypes: types, Format: chat.FormatStandard,
		SecretSealed: "sealed-" + id, Headers: map[string]string{"X-A": "1"}, Status: chat.EndpointActive, CreatedAt: t0, UpdatedAt: t0}
}

// testDeliveries covers endpoints, the routing cache, fan-out rows, lease claims in two
// lanes, lease expiry, completion, release and manual retry.
func testDeliveries(t *testing.T, s chat.Store) {
	ctx := context.Background()
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e1", "", "*")) })
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e2", "ag", chat.EventMessageSend)) })
	err := s.Write(ctx, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e1", "", "*")) })
	wantCode(t, err, chat.CodeAlreadyExists)
	e, err := s.GetEndpoint(ctx, "e2")
	if err != nil || e.AgentID != "ag" || e.EventTypes[0] != chat.EventMessageSend || e.Headers["X-A"] != "1" || !e.CreatedAt.Equal(t0) {
		t.Fatalf("get endpoint: %v %+v", err, e)
	}
	var routes *chat.Routes
	write(t, s, func(tx chat.Tx) error { var err error; routes, err = tx.EndpointRoutes(); return err })
	if got := routes.Match(chat.EventMessageSend, []string{"ag"}, ""); len(got) != 1 || got[0] != "e2" {
		t.Fatalf("precedence: %v", got)
	}
	// A change is seen by the next transaction (the cache is dropped).
	e.Status = chat.EndpointDisabled
	write(t, s, func(tx chat.Tx) error { return tx.UpdateEndpoint(e) })
	write(t, s, func(tx chat.Tx) error { var err error; routes, err = tx.EndpointRoutes(); return err })
	if got := routes.Match(chat.EventMessageSend, []string{"ag"}, ""); len(got) != 1 || got[0] != "e1" {
		t.Fatalf("after disabling the agent endpoint: %v", got)
	}

	ev := chat.Event{ID: "evt_1", Type: chat.EventRoomCreate, CreatedAt: t0, Payload: []byte(`{}`)}
	write(t, s, func(tx chat.Tx) error {
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		var ds []chat.Delivery
		for i := range 3 {
			ds = append(ds, chat.Delivery{ID: "d" + string(rune('1'+i)), EventID: "evt_1", EventType: ev.Type, EndpointID: "e1", CreatedAt: t0.Add(time.Duration(i) * time.Microsecond)})
		}
		return tx.InsertDeliveries(ds)
	})
	claim := func(owner string, now time.Time, first, retry int) []chat.Claimed {
		var got []chat.Claimed
		write(t, s, func(tx chat.Tx) error {
			var err error
			got, err = tx.ClaimDeliveries(chat.Claim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute),
				Wants: []chat.ClaimWant{{EndpointID: "e1", First: first, Retry: retry}}})
			return err
		})
		return got
	}
	got := claim("n1", t0.Add(time.Millisecond), 2, 2)
	if len(got) != 2 || got[0].ID != "d1" || got[1].ID != "d2" || got[0].EventID != "evt_1" {
		t.Fatalf("claim in event order: %+v", got)
	}
	if again := claim("n2", t0.Add(time.Second), 5, 5); len(again) != 1 || again[0].ID != "d3" {
		t.Fatalf("leased rows were claimed again: %+v", again)
	}
	// d1 succeeds, d2 fails with a retry in 10 s; n2's d3 lease expires.
	write(t, s, func(tx chat.Tx) error {
		return tx.CompleteDeliveries([]chat.DeliveryResult{
			{ID: "d1", EndpointID: "e1", Owner: "n1", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: t0, StatusCode: 200, LatencyMS: 3}},
			{ID: "d2", EndpointID: "e1", Owner: "n1", Status: chat.DeliveryFailed, NextAt: t0.Add(10 * time.Second),
				Attempt: chat.Attempt{At: t0, StatusCode: 500, Error: "Internal Server Error", ResponseExcerpt: "boom"}},
			{ID: "d3", EndpointID: "e1", Owner: "someone-else", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: t0}},
		})
	})
	d2, err := s.GetDelivery(ctx, "d2")
	if err != nil || d2.Status != chat.DeliveryFailed || d2.AttemptCount != 1 || d2.NextAttemptAt == nil || !d2.NextAttemptAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("failed delivery: %v %+v", err, d2)
	}
	if d3, _ := s.GetDelivery(ctx, "d3"); d3.Status != chat.DeliveryPending {
		t.Fatalf("a completion without the lease changed the row: %+v", d3)
	}
	if as, err := attemptsOf(ctx, s, "d3"); err != nil || len(as) != 1 {
		t.Fatalf("the attempt of a completion without the lease was not kept: %v %+v", err, as)
	}
	as, err := attemptsOf(ctx, s, "d2")
	if err != nil || len(as) != 1 || as[0].StatusCode != 500 || as[0].ResponseExcerpt != "boom" {
		t.Fatalf("attempts: %v %+v", err, as)
	}
	if got := claim("n1", t0.Add(5*time.Second), 0, 5); len(got) != 0 {
		t.Fatalf("a retry was claimed before it was due: %+v", got)
	}
	// After the lease of d3 expires and d2 is due, both lanes hand them out.
	got = claim("n3", t0.Add(2*time.Minute), 1, 1)
	if len(got) != 2 {
		t.Fatalf("after expiry: %+v", got)
	}
	write(t, s, func(tx chat.Tx) error { return tx.ReleaseDeliveries("n3", nil) })
	if got := claim("n4", t0.Add(2*time.Minute), 1, 1); len(got) != 2 {
		t.Fatalf("after release: %+v", got)
	}
	var rd chat.Delivery
	write(t, s, func(tx chat.Tx) error {
		var err error
		rd, err = tx.RetryDelivery("d1", t0.Add(time.Hour), chat.Lease{Owner: "n5", Until: t0.Add(2 * time.Hour)})
		return err
	})
	if rd.Status != chat.DeliveryPending || rd.NextAttemptAt == nil || !rd.NextAttemptAt.Equal(t0.Add(time.Hour)) || rd.AttemptCount != 1 {
		t.Fatalf("manual retry: %+v", rd)
	}
	find := func(cs []chat.Claimed, id string) *chat.Claimed {
		for i := range cs {
			if cs[i].ID == id {
				return &cs[i]
			}
		}
		return nil
	}
	if got := claim("n6", t0.Add(time.Hour), 5, 5); find(got, "d1") != nil {
		t.Fatalf("a manually retried delivery leased to its node was claimed: %+v", got)
	}
	if c := find(claim("n6", t0.Add(3*time.Hour), 5, 0), "d1"); c == nil || c.AttemptCount != 1 {
		t.Fatalf("manual retry after its lease: %+v", c)
	}
	write(t, s, func(tx chat.Tx) error {
		return tx.CompleteDeliveries([]chat.DeliveryResult{{ID: "d1", EndpointID: "e1", Owner: "n6", Status: chat.DeliveryFailed,
			NextAt: t0.Add(4 * time.Hour), Attempt: chat.Attempt{At: t0.Add(3 * time.Hour), StatusCode: 503}}})
	})
	list, err := s.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: "e1", Limit: 2})
	if err != nil || len(list) != 2 || list[0].ID != "d3" {
		t.Fatalf("list newest first: %v %+v", err, list)
	}
	list, err = s.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: "e1", Before: "d2", Status: chat.DeliveryFailed, Limit: 5})
	if err != nil || len(list) != 1 || list[0].ID != "d1" {
		t.Fatalf("list by status after a cursor: %v %+v", err, list)
	}
	// The first success, recorded before the manual retry, stays in the log before the
	// failure that followed, and a second success after both.
	if c := find(claim("n7", t0.Add(4*time.Hour), 0, 5), "d1"); c == nil {
		t.Fatal("the retry of d1 was not claimed when due")
	}
	write(t, s, func(tx chat.Tx) error {
		return tx.CompleteDeliveries([]chat.DeliveryResult{{ID: "d1", EndpointID: "e1", Owner: "n7", Status: chat.DeliverySucceeded,
			Attempt: chat.Attempt{At: t0.Add(4 * time.Hour), StatusCode: 202, LatencyMS: 7, ResponseExcerpt: "queued"}}})
	})
	as, err = attemptsOf(ctx, s, "d1")
	if err != nil || len(as) != 3 || as[0].StatusCode != 200 || as[0].LatencyMS != 3 || !as[0].At.Equal(t0) ||
		as[1].StatusCode != 503 || as[2].StatusCode != 202 || as[2].LatencyMS != 7 || as[2].ResponseExcerpt != "queued" ||
		!as[2].At.Equal(t0.Add(4*time.Hour)) || as[2].Error != "" {
		t.Fatalf("attempts of d1 (success, manual retry, failure, success): %v %+v", err, as)
	}
	if d1, err := s.GetDelivery(ctx, "d1"); err != nil || d1.Status != chat.DeliverySucceeded || d1.AttemptCount != 3 {
		t.Fatalf("d1 after its second success: %v %+v", err, d1)
	}
	if dd, err := s.GetDeliveryDetail(ctx, "d1"); err != nil || dd.ID != "d1" || dd.Status != chat.DeliverySucceeded ||
		dd.AttemptCount != 3 || dd.EndpointID != "e1" || dd.EventID != "evt_1" || dd.NextAttemptAt != nil || len(dd.Attempts) != 3 {
		t.Fatalf("detail of d1: %v %+v", err, dd)
	}
	if dd, err := s.GetDeliveryDetail(ctx, "d2"); err != nil || dd.Status != chat.DeliveryFailed || dd.NextAttemptAt == nil ||
		!dd.CreatedAt.Equal(t0.Add(time.Microsecond)) || len(dd.Attempts) != 1 {
		t.Fatalf("detail of d2: %v %+v", err, dd)
	}
	if _, err := s.GetDeliveryDetail(ctx, "nope"); chat.ErrorCode(err) != chat.CodeNotFound {
		t.Fatalf("detail of a missing delivery: %v", err)
	}
	evs, err := s.EventsByID(ctx, []string{"evt_1", "nope"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events by id: %v %+v", err, evs)
	}
	write(t, s, func(tx chat.Tx) error { return tx.DeleteEndpoint("e1") })
	if _, err := s.GetDelivery(ctx, "d1"); chat.ErrorCode(err) != chat.CodeNotFound {
		t.Fatalf("deliveries outlived their endpoint: %v", err)
	}
	eps, err := s.ListEndpoints(ctx, "", 0)
	if err != nil || len(eps) != 1 {
		t.Fatalf("list endpoints: %v %+v", err, eps)
	}
	testLeasedDeliveries(t, s)
}

// testLeasedDeliveries covers the fast path: rows written leased to the writing node are
// invisible to claims until the lease ends; completions in batches keep a failed
// delivery's lease and end the others; renewals, releases and lease expiry.
func testLeasedDeliveries(t *testing.T, s chat.Store) {
	ctx := context.Background()
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e3", "", "*")) })
	base := t0.Add(24 * time.Hour)
	ev := chat.Event{ID: "evt_lease", Type: chat.EventRoomCreate, CreatedAt: base, Payload: []byte(`{}`)}
	const n = 70 // more than one chunk of rows per statement
	var ds []chat.Delivery
	for i := range n {
		ds = append(ds, chat.Delivery{ID: fmt.Sprintf("L%03d", i), EventID: ev.ID, EventType: ev.Type, EndpointID: "e3", CreatedAt: base})
	}
	lease := chat.Lease{Owner: "A", Until: base.Add(time.Minute)}
	write(t, s, func(tx chat.Tx) error {
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		return tx.InsertDeliveriesLeased(ds, lease)
	})
	claimAt := func(owner string, now time.Time, first, retry int) []chat.Claimed {
		var got []chat.Claimed
		write(t, s, func(tx chat.Tx) error {
			var err error
			got, err = tx.ClaimDeliveries(chat.Claim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute),
				Wants: []chat.ClaimWant{{EndpointID: "e3", First: first, Retry: retry}}})
			return err
		})
		var mine []chat.Claimed // rows of this test only
		for _, c := range got {
			if c.ID[0] == 'L' {
				mine = append(mine, c)
			}
		}
		return mine
	}
	claimable := func(now time.Time, want bool) {
		t.Helper()
		if got, err := s.Claimable(ctx, "e3", now); err != nil || got != want {
			t.Fatalf("claimable at %v: %v %v, want %v", now.Sub(base), got, err, want)
		}
	}
	claimable(base.Add(time.Second), false)
	if got := claimAt("B", base.Add(time.Second), 500, 500); len(got) != 0 {
		t.Fatalf("rows leased at insert were claimed by another node: %d", len(got))
	}
	write(t, s, func(tx chat.Tx) error { return tx.ReleaseDeliveries("B", nil) })
	wantLeaseEnd := lease.Until // a single node's leases last until it restarts
	if sn, ok := s.(interface{ SingleNode() bool }); ok && sn.SingleNode() {
		wantLeaseEnd = time.Time{}
	}
	if at, err := s.NextClaimable(ctx, base); err != nil || !at.Equal(wantLeaseEnd) {
		t.Fatalf("next claimable: %v %v, want %v", err, at, wantLeaseEnd)
	}
	// One batch completes them all: the first half succeed, the rest fail and stay leased.
	var rs []chat.DeliveryResult
	for i, d := range ds {
		r := chat.DeliveryResult{ID: d.ID, EndpointID: "e3", Owner: "A", Status: chat.DeliverySucceeded,
			Attempt: chat.Attempt{At: base.Add(time.Second), StatusCode: 200, LatencyMS: int64(i)}}
		if i >= n/2 {
			r.Status, r.NextAt, r.LeaseUntil = chat.DeliveryFailed, base.Add(time.Hour), base.Add(2*time.Hour)
			r.Attempt.StatusCode, r.Attempt.ResponseExcerpt = 503, "busy"
		}
		rs = append(rs, r)
	}
	rs = append(rs, chat.DeliveryResult{ID: "gone", EndpointID: "e3", Owner: "A", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: base}})
	write(t, s, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) })
	for i, d := range ds {
		got, err := s.GetDelivery(ctx, d.ID)
		if err != nil || got.AttemptCount != 1 {
			t.Fatalf("delivery %s: %v %+v", d.ID, err, got)
		}
		as, err := attemptsOf(ctx, s, d.ID)
		if err != nil || len(as) != 1 || as[0].LatencyMS != int64(i) {
			t.Fatalf("attempts of %s: %v %+v", d.ID, err, as)
		}
		want := chat.DeliverySucceeded
		if i >= n/2 {
			want = chat.DeliveryFailed
			if as[0].ResponseExcerpt != "busy" || !got.NextAttemptAt.Equal(base.Add(time.Hour)) {
				t.Fatalf("failed %s: %+v %+v", d.ID, got, as[0])
			}
		}
		if got.Status != want {
			t.Fatalf("delivery %s is %s, want %s", d.ID, got.Status, want)
		}
	}
	// The failed ones are still A's after they fall due, until the lease ends.
	claimable(base.Add(90*time.Minute), false)
	if got := claimAt("B", base.Add(90*time.Minute), 0, 500); len(got) != 0 {
		t.Fatalf("retries held by A were claimed: %d", len(got))
	}
	var renewed int64
	write(t, s, func(tx chat.Tx) error {
		var err error
		var held []string // the failed half, and one A finished (not renewed)
		for _, d := range ds[n/2-1:] {
			held = append(held, d.ID)
		}
		renewed, err = tx.RenewLeases("A", base.Add(3*time.Hour), held)
		return err
	})
	if renewed != n-n/2 {
		t.Fatalf("renewed %d leases, want %d", renewed, n-n/2)
	}
	if got := claimAt("B", base.Add(150*time.Minute), 0, 500); len(got) != 0 {
		t.Fatalf("renewed leases were claimed: %d", len(got))
	}
	write(t, s, func(tx chat.Tx) error { return tx.ReleaseDeliveries("A", []string{"L069", "L068"}) })
	claimable(base.Add(150*time.Minute), true)
	if got := claimAt("B", base.Add(150*time.Minute), 0, 500); len(got) != 2 {
		t.Fatalf("released retries: %+v", got)
	}
	if got := claimAt("B", base.Add(3*time.Hour+time.Second), 0, 500); len(got) != n-n/2 { // B's own two leases ended too
		t.Fatalf("after the renewed leases ended: %d", len(got))
	}
	var released int64
	write(t, s, func(tx chat.Tx) error { var err error; released, err = tx.ReleaseAllLeases(); return err })
	if released < int64(n-n/2) {
		t.Fatalf("released %d leases", released)
	}
	// Unleased retries not due yet: claimable when they fall due.
	if at, err := s.NextClaimable(ctx, base.Add(30*time.Minute)); err != nil || !at.Equal(base.Add(time.Hour)) {
		t.Fatalf("next claimable retry: %v %v", err, at)
	}
	v1, err := s.EndpointVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var routes *chat.Routes
	write(t, s, func(tx chat.Tx) error { var err error; routes, err = tx.EndpointRoutes(); return err })
	if routes.Version != v1 {
		t.Fatalf("routes version %d, store version %d", routes.Version, v1)
	}
	e, _ := s.GetEndpoint(ctx, "e2")
	write(t, s, func(tx chat.Tx) error { return tx.UpdateEndpoint(e) })
	if v2, err := s.EndpointVersion(ctx); err != nil || v2 == v1 {
		t.Fatalf("endpoint version after a change: %v %d", err, v2)
	}
}

// attemptsOf is a delivery's attempts as GetDeliveryDetail reads them.
func attemptsOf(ctx context.Context, s chat.Store, id string) ([]chat.Attempt, error) {
	d, err := s.GetDeliveryDetail(ctx, id)
	return d.Attempts, err
}

// A page cursor naming a delivery that is no longer stored (the retention pruned it while a
// client paged) goes on from the newest delivery created before it, by the time order of
// delivery ids; a cursor that is no delivery id at all is refused.
func testDeliveryCursorGone(t *testing.T, s chat.Store) {
	ctx := context.Background()
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	older, newer := ids.New("dlv", at(10)), ids.New("dlv", at(30))
	write(t, s, func(tx chat.Tx) error {
		if err := tx.InsertEndpoint(endpoint("e-cursor", "", "*")); err != nil {
			return err
		}
		return tx.InsertDeliveries([]chat.Delivery{
			{ID: older, EventID: "evt_c", EventType: chat.EventMessageSend, EndpointID: "e-cursor", CreatedAt: at(10)},
			{ID: newer, EventID: "evt_c", EventType: chat.EventMessageSend, EndpointID: "e-cursor", CreatedAt: at(30)}})
	})
	page := func(before string) string {
		t.Helper()
		list, err := s.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: "e-cursor", Before: before, Limit: 5})
		if err != nil {
			t.Fatalf("page before %s: %v", before, err)
		}
		var got []string
		for _, d := range list {
			got = append(got, d.ID)
		}
		return fmt.Sprint(got)
	}
	if got, want := page(ids.New("dlv", at(20))), fmt.Sprint([]string{older}); got != want {
		t.Fatalf("page before a gone delivery between the two: %s, want %s", got, want)
	}
	if got, want := page(ids.New("dlv", at(40))), fmt.Sprint([]string{newer, older}); got != want {
		t.Fatalf("page before a gone delivery newer than both: %s, want %s", got, want)
	}
	if got := page(ids.New("dlv", at(0))); got != "[]" {
		t.Fatalf("page before a gone delivery older than both: %s, want none", got)
	}
	_, err := s.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: "e-cursor", Before: "not-a-delivery", Limit: 5})
	if chat.ErrorCode(err) != chat.CodeInvalidArgument {
		t.Fatalf("a cursor that is no delivery id: %v, want invalid_argument", err)
	}
}
