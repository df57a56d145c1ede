package sqlstore

import (
	"errors"
	"fmt"
)

// New keys (PostgreSQL). A post by a thread key the thread cache does not hold, or with an
// idempotency key, costs its batch a round trip to read the key before any request runs: a
// whole batch of such posts then takes two round trips instead of one. Most such keys are
// new (a thread key's first post starts its thread, and the cache holds the keys of the
// threads this node started or read; an idempotency key repeats only when a client retries).
// So a batch takes its idempotency keys to be new, and a whole batch the thread keys its
// cache lacks too, without reading them, and makes that exact where it relies on it:
//   - a post that found such a key new and goes on to set it (starting a thread with a
//     thread key, or recording its message under an idempotency key) inserts it with a
//     plain INSERT, which fails if the key exists after all: the transaction fails before
//     its commit, and the batch runs again begun, reading its keys (errKeysRead), with
//     nothing answered from the failed run;
//   - a post that found such a key new and did not set it (a reply that must find its
//     thread, or a request that failed after the lookup) has nothing that checks the
//     answer: the batch runs again, reading, as soon as that request returns.
//
// After a key turned out not to be new, the next keysReadBatches batches with keys read them
// (a node whose cache is cold, after a restart, finds many known thread keys at first).

// newKey is a key taken to be new: a thread key (room, key) or an idempotency key (scope,
// key).
type newKey struct {
	idem bool
	k    memberKey
}

// newKeyUse is how far a transaction relied on a key being new.
type newKeyUse uint8

const (
	newKeyTaken    newKeyUse = iota // taken to be new, not looked up yet
	newKeyFound                     // a request looked it up and found none
	newKeyInserted                  // a request inserted it, with an insert that fails if it exists
)

// keysReadBatches is how many batches with keys read them after a key taken to be new
// existed.
const keysReadBatches = 64

// errKeysRead asks for the batch to be run again reading its keys; errKeyNotNew, because
// the insert of a key taken to be new failed, errKeyUnchecked, because a request relied on
// such a key without inserting it.
var (
	errKeysRead     = errors.New("rerun reading the keys")
	errKeyNotNew    = fmt.Errorf("a key taken to be new existed: %w", errKeysRead)
	errKeyUnchecked = fmt.Errorf("a key taken to be new was not checked: %w", errKeysRead)
)

// takeNewKeys takes the idempotency keys of a batch's posts to be new, and in a whole batch
// the thread keys they look up that the thread cache lacks, filling a with "" for each. It
// returns the keys still to read. A begun batch reads the thread keys the cache lacks: it
// begins when other nodes write, whose batches move the cache's version, and a cache of
// an older version would have every known key taken to be new and its insert fail.
func (s *Store) takeNewKeys(t *Tx, a *readAhead, keys, idems []memberKey) ([]memberKey, []memberKey) {
	take := keys
	if !t.unopened {
		take = nil
	}
	if _, ok := t.c.(Pipeliner); !ok || len(take)+len(idems) == 0 || t.readKeys || !s.mayTakeNewKeys() {
		return keys, idems // (without pipelining, an insert would fail at once, blamed on its request)
	}
	t.newKeys = make(map[newKey]newKeyUse, len(take)+len(idems))
	for _, k := range take {
		a.keys[k] = ""
		t.newKeys[newKey{false, k}] = newKeyTaken
	}
	for _, k := range idems {
		a.idem[k] = ""
		t.newKeys[newKey{true, k}] = newKeyTaken
	}
	if len(take) > 0 {
		keys = nil
	}
	return keys, nil
}

// mayTakeNewKeys reports whether this batch may take keys to be new (none of the
// keysReadBatches batches after a key taken to be new existed), counting it if not.
func (s *Store) mayTakeNewKeys() bool {
	for {
		n := s.keysRead.Load()
		if n <= 0 {
			return true
		}
		if s.keysRead.CompareAndSwap(n, n-1) {
			return false
		}
	}
}

// keyNotNew is what a batch returns when the insert of a key taken to be new failed: the
// next batches with keys read them, and this one runs again reading its own.
func (s *Store) keyNotNew() error {
	s.keysRead.Store(keysReadBatches)
	return errKeyNotNew
}

// newKeyRead records that a request looked up k and found nothing: if the key was taken to
// be new, the answer now relies on that.
func (t *Tx) newKeyRead(k newKey) {
	if use, ok := t.newKeys[k]; ok && use == newKeyTaken {
		t.newKeys[k] = newKeyFound
		t.keysFound++
	}
}

// newKeyInserted reports whether k, about to be inserted, was found new on the strength of
// being taken to be (its insert must then fail if it exists), and records the insert.
func (t *Tx) newKeyInserted(k newKey) bool {
	if t.newKeys[k] != newKeyFound {
		return false
	}
	t.newKeys[k] = newKeyInserted
	t.keysFound--
	return true
}

// newKeysUnchecked reports whether a request relied on a key being new and did not insert
// it (checked as each request returns: a request that finds a key new inserts it itself).
func (t *Tx) newKeysUnchecked() bool { return t.keysFound > 0 }
