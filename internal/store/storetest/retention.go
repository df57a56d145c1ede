package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// pruneLog runs both walks of the delivery log's retention to their end, limit rows a
// step, as the service does; it returns what went.
func pruneLog(t *testing.T, s chat.Store, before time.Time, limit int) (deliveries, attempts, events int64) {
	t.Helper()
	walk := func(step func(tx chat.Tx, after int64) (chat.PruneStep, error)) (rows, atts int64) {
		var after int64
		for range 10000 {
			var st chat.PruneStep
			write(t, s, func(tx chat.Tx) error {
				var err error
				st, err = step(tx, after)
				return err
			})
			if st.Deleted > int64(limit) {
				t.Fatalf("a step with limit %d deleted %d rows", limit, st.Deleted)
			}
			rows, atts = rows+st.Deleted, atts+st.Attempts
			if st.Done {
				return rows, atts
			}
			if st.Next <= after {
				t.Fatalf("a step that is not done did not move on: after %d, next %d", after, st.Next)
			}
			after = st.Next
		}
		t.Fatal("the walk did not end")
		return 0, 0
	}
	deliveries, attempts = walk(func(tx chat.Tx, after int64) (chat.PruneStep, error) { return tx.PruneDeliveries(before, after, limit) })
	events, _ = walk(func(tx chat.Tx, after int64) (chat.PruneStep, error) { return tx.PruneEvents(before, after, limit) })
	return deliveries, attempts, events
}

// finish records outcomes of deliveries leased to owner: each id's statuses in turn (an
// attempt each).
func finish(t *testing.T, s chat.Store, owner string, at time.Time, outcomes map[string][]string) {
	t.Helper()
	for id, statuses := range outcomes {
		for i, st := range statuses {
			r := chat.DeliveryResult{ID: id, EndpointID: "e1", Owner: owner, Status: st,
				Attempt: chat.Attempt{At: at.Add(time.Duration(i) * time.Second), StatusCode: 500}}
			if st == chat.DeliveryFailed {
				r.NextAt, r.LeaseUntil = at.Add(1000*time.Hour), at.Add(1000*time.Hour)
			}
			if st == chat.DeliverySucceeded {
				r.Attempt.StatusCode = 200
			}
			write(t, s, func(tx chat.Tx) error { return tx.CompleteDeliveries([]chat.DeliveryResult{r}) })
		}
	}
}

// appendEvents appends events (id, room, created at) in order.
func appendEvents(t *testing.T, s chat.Store, evs ...chat.Event) {
	t.Helper()
	write(t, s, func(tx chat.Tx) error {
		for i := range evs {
			e := evs[i]
			e.Type, e.Payload = chat.EventMessageSend, json.RawMessage(`{}`)
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
		}
		return nil
	})
}

func haveEvents(t *testing.T, s chat.Store, ids ...string) map[string]bool {
	t.Helper()
	evs, err := s.EventsByID(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range evs {
		have[e.ID] = true
	}
	return have
}

func wantDeliveries(t *testing.T, s chat.Store, kept, gone []string) {
	t.Helper()
	for _, id := range kept {
		if _, err := s.GetDelivery(context.Background(), id); err != nil {
			t.Errorf("delivery %s: %v, want it kept", id, err)
		}
	}
	for _, id := range gone {
		if _, err := s.GetDelivery(context.Background(), id); chat.ErrorCode(err) != chat.CodeNotFound {
			t.Errorf("delivery %s: %v, want it pruned", id, err)
		}
	}
}

func wantEvents(t *testing.T, s chat.Store, kept, gone []string) {
	t.Helper()
	have := haveEvents(t, s, append(append([]string{}, kept...), gone...)...)
	for _, id := range kept {
		if !have[id] {
			t.Errorf("event %s was pruned, want it kept", id)
		}
	}
	for _, id := range gone {
		if have[id] {
			t.Errorf("event %s was kept, want it pruned", id)
		}
	}
}

// testRetention: finished deliveries created before the cut-off go with their attempts,
// and so do the events created before it that no unfinished delivery names; unfinished
// deliveries and their events stay however old, recent rows stay, and so do each room's
// latest event and the newest row of each table. Room sequence numbers and event positions
// go on from where they were. A second pass deletes nothing.
func testRetention(t *testing.T, s chat.Store) {
	ctx := context.Background()
	old, before, recent := t0, t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e1", "", "*")) })
	setupRoom(t, s, "r")
	setupRoom(t, s, "q")
	appendEvents(t, s,
		chat.Event{ID: "evt_r1", RoomID: "r", CreatedAt: old}, // not the room's latest
		chat.Event{ID: "evt_q1", RoomID: "q", CreatedAt: old}, // the room's latest: kept
		chat.Event{ID: "evt_a", CreatedAt: old},               // delivered at once
		chat.Event{ID: "evt_b", CreatedAt: old},               // delivered after a failure
		chat.Event{ID: "evt_c", CreatedAt: old},               // its delivery is dead
		chat.Event{ID: "evt_d", CreatedAt: old},               // its delivery is pending
		chat.Event{ID: "evt_e", CreatedAt: old},               // its delivery waits for a retry
		chat.Event{ID: "evt_f", CreatedAt: old},               // replayed lately, pending
		chat.Event{ID: "evt_g", CreatedAt: old},               // replayed lately, delivered
		chat.Event{ID: "evt_r2", RoomID: "r", CreatedAt: recent},
		chat.Event{ID: "evt_h", CreatedAt: recent},
	)
	dlv := func(id, event string, at time.Time) chat.Delivery {
		return chat.Delivery{ID: id, EventID: event, EventType: chat.EventMessageSend, EndpointID: "e1", CreatedAt: at}
	}
	lease := chat.Lease{Owner: "n1", Until: t0.Add(1000 * time.Hour)}
	write(t, s, func(tx chat.Tx) error {
		return tx.InsertDeliveriesLeased([]chat.Delivery{
			dlv("dA", "evt_a", old), dlv("dB", "evt_b", old), dlv("dC", "evt_c", old), dlv("dD", "evt_d", old),
			dlv("dE", "evt_e", old), dlv("dF", "evt_f", recent), dlv("dG", "evt_g", recent), dlv("dH", "evt_h", recent),
		}, lease)
	})
	finish(t, s, "n1", old, map[string][]string{
		"dA": {chat.DeliverySucceeded},
		"dB": {chat.DeliveryFailed, chat.DeliverySucceeded},
		"dC": {chat.DeliveryFailed, chat.DeliveryDead},
		"dE": {chat.DeliveryFailed},
		"dG": {chat.DeliverySucceeded},
		"dH": {chat.DeliverySucceeded},
	})
	_, lastPos, err := s.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}

	d, a, e := pruneLog(t, s, before, 100)
	if d != 3 || a != 3 || e != 5 {
		t.Fatalf("pruned %d deliveries, %d attempts, %d events; want 3, 3 (dB's failure, dC's two), 5", d, a, e)
	}
	wantDeliveries(t, s, []string{"dD", "dE", "dF", "dG", "dH"}, []string{"dA", "dB", "dC"})
	wantEvents(t, s, []string{"evt_q1", "evt_d", "evt_e", "evt_f", "evt_r2", "evt_h"}, []string{"evt_r1", "evt_a", "evt_b", "evt_c", "evt_g"})
	if as, err := attemptsOf(ctx, s, "dE"); err != nil || len(as) != 1 {
		t.Fatalf("the attempts of a kept delivery: %v %+v", err, as)
	}
	// StoredEvents names the kept ones among pruned, kept and unknown ids, past a statement's
	// 500 ids too.
	ids := []string{"evt_a", "evt_d", "evt_nope", "evt_h"}
	for i := range 600 {
		ids = append(ids, fmt.Sprintf("evt_unknown_%d", i))
	}
	ids = append(ids, "evt_e")
	write(t, s, func(tx chat.Tx) error {
		stored, err := tx.StoredEvents(ids)
		slices.Sort(stored)
		if err != nil || fmt.Sprint(stored) != "[evt_d evt_e evt_h]" {
			return fmt.Errorf("stored events: %v %v, want evt_d, evt_e and evt_h", stored, err)
		}
		return nil
	})
	// dG's event is gone: a manual retry changes nothing and says why; a delivery that does
	// not exist is still not found.
	retry := func(id string) error {
		return s.Write(ctx, func(tx chat.Tx) error {
			_, err := tx.RetryDelivery(id, recent, lease)
			return err
		})
	}
	if err := retry("dG"); chat.ErrorCode(err) != chat.CodeFailedPrecond {
		t.Fatalf("retrying a delivery whose event was pruned: %v, want %s", err, chat.CodeFailedPrecond)
	}
	if d, err := s.GetDeliveryDetail(ctx, "dG"); err != nil || d.Status != chat.DeliverySucceeded || len(d.Attempts) != 1 {
		t.Fatalf("a delivery whose retry was refused: %v %+v, want it succeeded with its one attempt", err, d)
	}
	if err := retry("dX"); chat.ErrorCode(err) != chat.CodeNotFound {
		t.Fatalf("retrying a delivery that does not exist: %v, want %s", err, chat.CodeNotFound)
	}
	if d, a, e := pruneLog(t, s, before, 100); d+a+e != 0 {
		t.Fatalf("a second pass pruned %d deliveries, %d attempts, %d events", d, a, e)
	}

	// Everything is old now: the newest delivery and the newest event stay, and so do the
	// rooms' latest events and what unfinished deliveries need.
	far := t0.Add(1000 * time.Hour)
	if d, a, e := pruneLog(t, s, far, 100); d != 1 || a != 0 || e != 0 {
		t.Fatalf("pruning everything: %d deliveries, %d attempts, %d events; want dG only", d, a, e)
	}
	wantDeliveries(t, s, []string{"dD", "dE", "dF", "dH"}, []string{"dG"})
	wantEvents(t, s, []string{"evt_q1", "evt_d", "evt_e", "evt_f", "evt_r2", "evt_h"}, nil)

	// A room's sequence and the event positions go on from where they were.
	appendEvents(t, s, chat.Event{ID: "evt_r3", RoomID: "r", CreatedAt: recent})
	evs, err := s.RoomEventsAfter(ctx, "r", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "evt_r2" || evs[0].RoomSeq != 2 || evs[1].ID != "evt_r3" || evs[1].RoomSeq != 3 {
		t.Fatalf("room events after pruning: %v %+v", err, evs)
	}
	if room, err := s.GetRoom(ctx, "r"); err != nil || room.LastEventID != 3 {
		t.Fatalf("room after pruning: %v %+v", err, room)
	}
	newer, _, err := s.Events(ctx, lastPos, 10)
	if err != nil || len(newer) != 1 || newer[0].ID != "evt_r3" {
		t.Fatalf("events after the last position before pruning: %v %+v", err, newer)
	}
	// evt_h is no longer the newest event, nor evt_r2 the room's latest.
	if d, a, e := pruneLog(t, s, far, 100); d != 0 || a != 0 || e != 2 {
		t.Fatalf("pruning after a new event: %d deliveries, %d attempts, %d events; want evt_h and evt_r2", d, a, e)
	}
	wantEvents(t, s, []string{"evt_q1", "evt_d", "evt_e", "evt_f", "evt_r3"}, []string{"evt_r2", "evt_h"})

	// A deleted room's latest event is kept no longer; a room made again under its id then
	// numbers from 1.
	write(t, s, func(tx chat.Tx) error { return tx.DeleteRoom("r") })
	appendEvents(t, s, chat.Event{ID: "evt_z", CreatedAt: recent})
	if d, a, e := pruneLog(t, s, far, 100); d != 0 || a != 0 || e != 1 {
		t.Fatalf("pruning after the room was deleted: %d deliveries, %d attempts, %d events; want evt_r3", d, a, e)
	}
	wantEvents(t, s, []string{"evt_q1", "evt_z"}, []string{"evt_r3"})
	setupRoom(t, s, "r")
	appendEvents(t, s, chat.Event{ID: "evt_r4", RoomID: "r", CreatedAt: recent})
	if evs, err := s.RoomEventsAfter(ctx, "r", 0, 10); err != nil || len(evs) != 1 || evs[0].ID != "evt_r4" || evs[0].RoomSeq != 1 {
		t.Fatalf("events of the room made again: %v %+v, want evt_r4 numbered 1", err, evs)
	}
}

// testRetentionSteps: a step examines at most limit rows after its cursor, so it deletes at
// most limit deliveries (with their attempts) or events; it reports where the next step
// starts, and that the walk is done when its window reaches the end of the table or holds
// no row created before the cut-off.
func testRetentionSteps(t *testing.T, s chat.Store) {
	old, before, recent := t0, t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	write(t, s, func(tx chat.Tx) error { return tx.InsertEndpoint(endpoint("e1", "", "*")) })
	// Eight old events, each with a dead delivery (one attempt), then four recent ones; the
	// first two old deliveries are still pending.
	var evs []chat.Event
	var ds []chat.Delivery
	dead := map[string][]string{}
	for i := range 12 {
		at := old
		if i >= 8 {
			at = recent
		}
		id := string(rune('a' + i))
		evs = append(evs, chat.Event{ID: "evt_" + id, CreatedAt: at})
		ds = append(ds, chat.Delivery{ID: "d" + id, EventID: "evt_" + id, EventType: chat.EventMessageSend, EndpointID: "e1", CreatedAt: at})
		if i >= 2 {
			dead["d"+id] = []string{chat.DeliveryDead}
		}
	}
	appendEvents(t, s, evs...)
	write(t, s, func(tx chat.Tx) error {
		return tx.InsertDeliveriesLeased(ds, chat.Lease{Owner: "n1", Until: t0.Add(1000 * time.Hour)})
	})
	finish(t, s, "n1", old, dead)

	step := func(walk func(tx chat.Tx) (chat.PruneStep, error)) chat.PruneStep {
		t.Helper()
		var st chat.PruneStep
		write(t, s, func(tx chat.Tx) error {
			var err error
			st, err = walk(tx)
			return err
		})
		return st
	}
	// Deliveries, three at a time: da db dc (dc goes), dd de df, dg dh di (di is recent),
	// dj dk dl (all recent: done, though the table goes on).
	st := step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneDeliveries(before, 0, 3) })
	if st.Deleted != 1 || st.Attempts != 1 || st.Done || st.Next == 0 {
		t.Fatalf("first step: %+v, want dc gone and more to come", st)
	}
	wantDeliveries(t, s, []string{"da", "db", "dd"}, []string{"dc"})
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneDeliveries(before, st.Next, 3) })
	if st.Deleted != 3 || st.Attempts != 3 || st.Done {
		t.Fatalf("second step: %+v, want dd de df gone", st)
	}
	wantDeliveries(t, s, []string{"dg"}, []string{"dd", "de", "df"})
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneDeliveries(before, st.Next, 3) })
	if st.Deleted != 2 || st.Attempts != 2 || st.Done {
		t.Fatalf("third step: %+v, want dg dh gone", st)
	}
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneDeliveries(before, st.Next, 3) })
	if st.Deleted != 0 || !st.Done {
		t.Fatalf("fourth step: %+v, want the walk done at a window of recent deliveries", st)
	}
	wantDeliveries(t, s, []string{"da", "db", "di", "dj", "dk", "dl"}, []string{"dg", "dh"})
	last := st.Next
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneDeliveries(before, last+1000, 3) })
	if st.Deleted != 0 || !st.Done || st.Next != last+1000 {
		t.Fatalf("a step past the end: %+v", st)
	}

	// Events, four at a time: evt_a..evt_d (evt_c and evt_d go: the others are needed by
	// pending deliveries), evt_e..evt_h, evt_i..evt_l (all recent: done).
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneEvents(before, 0, 4) })
	if st.Deleted != 2 || st.Done {
		t.Fatalf("first event step: %+v", st)
	}
	wantEvents(t, s, []string{"evt_a", "evt_b", "evt_e"}, []string{"evt_c", "evt_d"})
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneEvents(before, st.Next, 4) })
	if st.Deleted != 4 || st.Done {
		t.Fatalf("second event step: %+v", st)
	}
	st = step(func(tx chat.Tx) (chat.PruneStep, error) { return tx.PruneEvents(before, st.Next, 4) })
	if st.Deleted != 0 || !st.Done {
		t.Fatalf("third event step: %+v", st)
	}
	wantEvents(t, s, []string{"evt_a", "evt_b", "evt_i", "evt_l"}, []string{"evt_e", "evt_f", "evt_g", "evt_h"})

	// Once the walks are done, walking again from the start deletes nothing.
	if d, a, e := pruneLog(t, s, before, 1); d+a+e != 0 {
		t.Fatalf("walking again: %d deliveries, %d attempts, %d events", d, a, e)
	}
	err := s.Write(context.Background(), func(tx chat.Tx) error { _, err := tx.PruneEvents(before, 0, 0); return err })
	if err == nil {
		t.Fatal("a step with limit 0 was accepted")
	}
}

// testRetentionClockAhead: an event stamped by a clock running far ahead does not end the
// walk: the old events after it are pruned all the same, and it stays until its time.
func testRetentionClockAhead(t *testing.T, s chat.Store) {
	old, before, recent := t0, t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	appendEvents(t, s,
		chat.Event{ID: "evt_1", CreatedAt: old},
		chat.Event{ID: "evt_ahead", CreatedAt: t0.Add(10000 * time.Hour)},
		chat.Event{ID: "evt_2", CreatedAt: old},
		chat.Event{ID: "evt_3", CreatedAt: old},
		chat.Event{ID: "evt_4", CreatedAt: recent},
	)
	if _, _, e := pruneLog(t, s, before, 2); e != 3 {
		t.Fatalf("pruned %d events, want evt_1, evt_2, evt_3", e)
	}
	wantEvents(t, s, []string{"evt_ahead", "evt_4"}, []string{"evt_1", "evt_2", "evt_3"})
}

// testEventPosBefore: the position returned is that of the newest event created before
// the time asked, so the events after it begin with the first one created at or after it;
// 0 when none is older (or there are none).
func testEventPosBefore(t *testing.T, s chat.Store) {
	ctx := context.Background()
	pos := func(at time.Time) int64 {
		t.Helper()
		p, err := s.EventPosBefore(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := pos(t0); p != 0 {
		t.Fatalf("no events: position %d, want 0", p)
	}
	setupRoom(t, s, "r")
	for i := range 37 { // one write each: a position each
		if i%4 == 1 {
			// A write that appends an event and then fails is rolled back; PostgreSQL's
			// identity has handed out the position all the same, so the positions have gaps
			// (the read sends the deferred statement before the failure).
			err := s.Write(ctx, func(tx chat.Tx) error {
				e := chat.Event{ID: fmt.Sprintf("gap_%02d", i), Type: chat.EventMessageSend, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
				if _, err := tx.GetRoom("r"); err != nil {
					return err
				}
				return chat.Errorf(chat.CodeInvalidArgument, "rolled back on purpose")
			})
			if !chat.IsCode(err, chat.CodeInvalidArgument) {
				t.Fatalf("the failing write: %v", err)
			}
		}
		appendEvents(t, s, chat.Event{ID: fmt.Sprintf("evt_%02d", i), RoomID: "r", CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	all, last, err := s.Events(ctx, 0, 100)
	if err != nil || len(all) != 37 {
		t.Fatalf("events: %v, %d", err, len(all))
	}
	if d, ok := s.(interface{ Dialect() string }); ok && d.Dialect() == "postgres" && last == 37 {
		t.Fatal("no gaps among PostgreSQL's positions: the rolled-back writes did not take any")
	}
	for _, i := range []int{0, 1, 2, 17, 35, 36} {
		at := t0.Add(time.Duration(i) * time.Minute)
		after := pos(at)
		evs, _, err := s.Events(ctx, after, 1)
		if err != nil || len(evs) != 1 || evs[0].ID != fmt.Sprintf("evt_%02d", i) {
			t.Fatalf("events after the position before minute %d (%d): %v %+v", i, after, err, evs)
		}
		if between := pos(at.Add(30 * time.Second)); between != pos(at.Add(time.Minute)) {
			t.Fatalf("half a minute after minute %d: position %d, want the one before minute %d", i, between, i+1)
		}
	}
	if p := pos(t0.Add(-time.Hour)); p != 0 {
		t.Fatalf("before every event: position %d, want 0", p)
	}
	if _, last, _ := s.Events(ctx, 0, 100); pos(t0.Add(time.Hour)) != last {
		t.Fatalf("after every event: position %d, want the last, %d", pos(t0.Add(time.Hour)), last)
	}
}
