package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
	"github.com/chathooks/chathooks/internal/store/storetest"
)

// appendThenFail appends an event to room r, then fails: a request that fails after
// writing.
func appendThenFail(id string) func(chat.Tx) error {
	return func(tx chat.Tx) error {
		if err := tx.AppendEvent(&chat.Event{ID: "evt_" + id, Type: chat.EventRoomChanged, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		return chat.Errorf(chat.CodeInvalidArgument, "refused after writing %s", id)
	}
}

// A room's events are numbered after its newest, batch after batch, whatever the batches
// between them did: a request that failed after appending (the batch ran again without it),
// requests run under savepoints because several did, a member joining, a room deleted in
// the middle of a batch. On SQLite the numbers come from the writer's cache after the first; the test
// checks what the cache holds after each batch.
func TestRoomEventNumbersThroughFailedAndDeletingBatches(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *sqlstore.Store, batches <-chan int, _ *storetest.RerunLog) {
		setup(t, s, batches)
		cached := s.Dialect() == "sqlite"
		checkCache := func(step string, want int64, present bool) {
			t.Helper()
			if !cached {
				return
			}
			if n, ok := s.CachedRoomSeq("r"); ok != present || n != want {
				t.Errorf("%s: the cache holds %d (%v), want %d (%v)", step, n, ok, want, present)
			}
		}
		var evs [9]*chat.Event
		checkNumbers := func(step string, want map[int]int64) {
			t.Helper()
			for i, n := range want {
				if evs[i].RoomSeq != n {
					t.Errorf("%s: post m%d numbered %d, want %d", step, i, evs[i].RoomSeq, n)
				}
			}
		}

		if err := s.Write(context.Background(), postTo("r", "m1", &evs[1])); err != nil {
			t.Fatal(err)
		}
		<-batches
		checkNumbers("first post", map[int]int64{1: 1})
		checkCache("first post", 1, true)

		// A request that appended, then failed: the batch runs again without it.
		errs := batch(t, s, batches, []func(chat.Tx) error{postTo("r", "m2", &evs[2]), appendThenFail("x1"), postTo("r", "m3", &evs[3])})
		if errs[0] != nil || errs[2] != nil || !hasError(errs[1], chat.CodeInvalidArgument, "refused after writing x1") {
			t.Fatalf("batch with a failure after writing: %v", errs)
		}
		checkNumbers("after a failure", map[int]int64{2: 2, 3: 3})
		checkCache("after a failure", 3, true)

		// Four such requests: after three reruns every request gets a savepoint, and the
		// fourth is rolled back to its own.
		errs = batch(t, s, batches, []func(chat.Tx) error{postTo("r", "m4", &evs[4]), appendThenFail("x2"), appendThenFail("x3"),
			appendThenFail("x4"), appendThenFail("x5"), postTo("r", "m5", &evs[5])})
		for i, err := range errs {
			if (i == 0 || i == 5) != (err == nil) {
				t.Fatalf("batch under savepoints, request %d: %v", i, err)
			}
		}
		checkNumbers("under savepoints", map[int]int64{4: 4, 5: 5})
		checkCache("under savepoints", 0, false) // the numbers of a batch under savepoints are forgotten
		if err := s.Write(context.Background(), postTo("r", "m6", &evs[6])); err != nil {
			t.Fatal(err)
		}
		<-batches
		checkNumbers("after savepoints", map[int]int64{6: 6})
		checkCache("after savepoints", 6, true)
		checkCommitted(t, s, []string{"m1", "m2", "m3", "m4", "m5", "m6"})

		// A member joining between posts changes no number: the cache is kept.
		errs = batch(t, s, batches, []func(chat.Tx) error{
			func(tx chat.Tx) error {
				if err := tx.InsertUser(chat.User{ID: "b", Name: "B", Kind: chat.KindHuman, CreatedAt: t0}); err != nil {
					return err
				}
				return tx.InsertMember("r", "b", t0)
			},
			postTo("r", "m7", &evs[7])})
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("batch with a member joining: %v", errs)
		}
		checkNumbers("after a member joined", map[int]int64{7: 7})
		checkCache("after a member joined", 7, true)

		// A post, the room's deletion, then an event for it in the same batch: the event
		// finds the room missing, and the cache is emptied.
		errs = batch(t, s, batches, []func(chat.Tx) error{postTo("r", "m8", &evs[8]),
			func(tx chat.Tx) error { return tx.DeleteRoom("r") },
			func(tx chat.Tx) error {
				return tx.AppendEvent(&chat.Event{ID: "evt_late", Type: chat.EventRoomChanged, RoomID: "r", CreatedAt: t0, Payload: json.RawMessage(`{}`)})
			}})
		if errs[0] != nil || errs[1] != nil || !hasError(errs[2], chat.CodeNotFound, `room "r" not found`) {
			t.Fatalf("batch deleting the room: %v", fmt.Sprint(errs))
		}
		checkNumbers("before the deletion", map[int]int64{8: 8})
		checkCache("after the deletion", 0, false)
		if evs, err := s.EventsByID(context.Background(), []string{"evt_late"}); err != nil || len(evs) != 0 {
			t.Errorf("the deleted room's late event: %v, %v", evs, err)
		}
	})
}
