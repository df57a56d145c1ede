// Package sqlstore is the storage engine shared by the SQLite and PostgreSQL backends:
// the group-commit writers, the chat.Tx operations and the chat.Reader queries, written
// once in SQL both engines accept, with the differences held in a Dialect.
//
// Group commit: write requests queue on a channel; each writer goroutine owns one
// connection, takes whatever is queued (up to MaxBatch) and runs it as ONE transaction; a
// failing request is answered alone and never changes what its neighbours commit (see
// runBatch). No caller is answered before the commit is durable. SQLite runs one writer; PostgreSQL several.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Options tune the engine.
type Options struct {
	Logger *slog.Logger
	// MaxBatch caps how many write requests share one transaction (default 256).
	MaxBatch int
	// ObserveBatch, if set, is called after each commit with the number of requests in it
	// and how long the writer spent on the batch (from its first statement to the end of
	// its commit, reruns included).
	ObserveBatch func(n int, d time.Duration)
	// NoGroupCommit commits every request alone (for benchmarks that compare).
	NoGroupCommit bool
	// NodeID identifies this process in commit notifications (dialects with NotifyChannel).
	NodeID string
	// CommitWindow, if positive, is the longest a writer gathers after a batch's first
	// request while commits cost more than they buy (see pacer); 0: never.
	CommitWindow time.Duration
	// ObserveWindow, if set, is told each new commit window (from the writer goroutine).
	ObserveWindow func(time.Duration)
	// ObserveStatements, if set, is told, from the writer goroutine, each stretch of time
	// the writer spent in statements (its commits excluded: their flush is the disk's) and
	// the CPU time its thread had in it; the difference is time it waited for a CPU. Only
	// with a CommitWindow (the writer then measures it) on platforms with a per-thread CPU
	// clock.
	ObserveStatements func(wall, cpu time.Duration)
	// ObserveLockWait, if set, is told, from the writer goroutine, how long each batch took
	// to begin where beginning takes the cluster-wide batch lock (PostgreSQL, while other
	// nodes write): BEGIN and the lock with their round trip. Most of it is the wait for
	// other nodes' batches when the lock is contended.
	ObserveLockWait func(time.Duration)
	// ObserveRerun, if set, is told, from the writer goroutine, each time a write batch runs
	// again, and why (one of the Rerun* reasons).
	ObserveRerun func(reason string)
	// windowFixed keeps the commit window open at CommitWindow (tests of the gathering).
	windowFixed bool
}

var _ chat.Store = (*Store)(nil)

// Store implements chat.Store over a Dialect, a read pool and writer connections.
type Store struct {
	d       *Dialect
	opts    Options
	log     *slog.Logger
	read    Querier
	writers []WriterConn
	closeFn func() error

	reqs    chan *writeReq
	stop    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool
	wctx    context.Context
	wcancel context.CancelFunc
	sqlMu   sync.RWMutex
	sqlFor  map[string]string // rebound statements

	begin                  string       // what starts a writer transaction (with the batch lock)
	beginGen               bool         // begin also reads the room cache generation and the endpoint version (BeginReader)
	whole                  bool         // batches may be sent whole, BEGIN to COMMIT (whole.go)
	expect                 expectation  // what a whole batch expects (whole.go)
	threads                *threadCache // thread keys and their threads' first messages (nil: not cached)
	keysRead               atomic.Int32 // batches with keys still to read them, after a key taken to be new existed (newkeys.go)
	born                   time.Time    // when the store opened (otherWrote counts from it)
	otherWrote             atomic.Int64 // when another node's commit was last heard of, since born (0: never)
	claimFirst, claimRetry string       // delivery claims with the dialect's row locking
	routes                 routesCache  // outgoing endpoint routing table (delivery.go)
	rooms                  roomCache    // rooms as posts read them (roomcache.go)
	seqs                   seqCache     // each room's newest event number (seqcache.go)

	// gathering, if set (tests), is told when a writer starts waiting out a commit window
	// with the batch's first n requests.
	gathering atomic.Pointer[func(n int)]
}

type writeReq struct {
	ctx context.Context
	// post: what a post will read (chat.PostOf), read ahead for the batch
	post chat.PostHint
	// unwaited: nobody waits on this write's latency (chat.Unwaited): the pacer counts them
	unwaited bool
	fn       func(chat.Tx) error
	err      error
	skip     bool // answered (err is final) within the current batch: not run again
	done     chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

// New starts one writer goroutine per writer connection. closeFn closes the pools after
// the writers stop.
func New(d *Dialect, read Querier, writers []WriterConn, closeFn func() error, o Options) *Store {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	s := &Store{
		d: d, opts: o, log: o.Logger, read: read, writers: writers, closeFn: closeFn,
		reqs: make(chan *writeReq, 4096), stop: make(chan struct{}), sqlFor: map[string]string{}, born: time.Now(),
	}
	s.begin = d.Begin
	if d.RoundTrips && d.BatchLock != "" {
		s.begin = d.Begin + "; " + d.BatchLock
		s.beginGen = !d.SingleNode
		for _, c := range writers {
			if _, ok := c.(BeginReader); !ok {
				s.beginGen = false
			}
		}
		s.whole = s.beginGen && d.BatchGuard != ""
		for _, c := range writers {
			if _, ok := c.(Pipeliner); !ok {
				s.whole = false
			}
		}
		if s.whole && d.ThreadVersion != "" && d.ThreadVersionEnd != "" {
			s.threads = &threadCache{}
		}
		if s.beginGen {
			threadVersion := ""
			if s.threads != nil {
				threadVersion = d.ThreadVersion
			}
			s.begin += "; " + beginReads(threadVersion)
		}
	}
	s.claimFirst = strings.Replace(qClaimFirst, "{lock}", d.SkipLocked, 1)
	s.claimRetry = strings.Replace(qClaimRetry, "{lock}", d.SkipLocked, 1)
	s.wctx, s.wcancel = context.WithCancel(context.Background())
	for _, c := range writers {
		s.wg.Add(1)
		go s.writer(c)
	}
	return s
}

// SingleNode reports whether one process owns the database (SQLite): its delivery leases
// need no expiry, and a new start releases them all.
func (s *Store) SingleNode() bool { return s.d.SingleNode }

// WriterRoundTrips implements chat.Store: true when the writer's statements travel to a
// database server.
func (s *Store) WriterRoundTrips() bool { return s.d.RoundTrips }

// Dialect returns the store's dialect name ("sqlite" or "postgres").
func (s *Store) Dialect() string { return s.d.Name }

// sql returns q with placeholders rewritten for the dialect (cached).
func (s *Store) sql(q string) string {
	if !s.d.DollarPlaceholders {
		return q
	}
	s.sqlMu.RLock()
	r, ok := s.sqlFor[q]
	s.sqlMu.RUnlock()
	if ok {
		return r
	}
	r = s.d.rebind(q)
	s.sqlMu.Lock()
	s.sqlFor[q] = r
	s.sqlMu.Unlock()
	return r
}

// Ping checks that the database answers and the writers run.
func (s *Store) Ping(ctx context.Context) error {
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return chat.Errorf(chat.CodeUnavailable, "database is closed")
	}
	var one int
	if err := s.read.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return &chat.Error{Code: chat.CodeUnavailable, Message: "database unreachable", Err: err}
	}
	// The read pool answering says nothing of the writers: commit a one-row write through a
	// writer too, so readiness reports a writer that cannot commit (a lost connection, which
	// this also lets reconnect on PostgreSQL; a full disk, which an empty transaction would
	// not notice since it writes nothing).
	if err := s.Write(ctx, func(tx chat.Tx) error {
		t, ok := tx.(*Tx)
		if !ok {
			return nil
		}
		_, err := t.exec(`INSERT INTO settings (key, value) VALUES ('ready_probe', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, time.Now().UTC().Format(time.RFC3339Nano))
		return err
	}); err != nil {
		return &chat.Error{Code: chat.CodeUnavailable, Message: "database cannot commit", Err: err}
	}
	return nil
}

// Close lets the writers finish what is queued, then closes the connections.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.closeMu.Unlock()
	s.wg.Wait()
	s.wcancel()
	var errs []error
	for _, c := range s.writers {
		errs = append(errs, c.Close())
	}
	if s.closeFn != nil {
		errs = append(errs, s.closeFn())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: close: %w", s.d.Name, err)
	}
	return nil
}

// Queued reports how many write requests wait for a writer.
func (s *Store) Queued() int { return len(s.reqs) }

// Write implements chat.Store: fn runs in a writer's current batch transaction; Write
// returns once that transaction is durable.
func (s *Store) Write(ctx context.Context, fn func(chat.Tx) error) error {
	r := reqPool.Get().(*writeReq)
	r.post = chat.PostOf(ctx)
	r.ctx, r.fn, r.err, r.unwaited = ctx, fn, nil, chat.IsUnwaited(ctx)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		reqPool.Put(r)
		return chat.Errorf(chat.CodeUnavailable, "database is closed")
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		reqPool.Put(r)
		return fmt.Errorf("%s: write: %w", s.d.Name, ctx.Err())
	}
	s.closeMu.RUnlock()
	<-r.done // once queued, a request is always answered
	err := r.err
	r.ctx, r.fn, r.err = nil, nil, nil
	reqPool.Put(r)
	return err
}

func (s *Store) writer(c WriterConn) {
	defer s.wg.Done()
	pace := newPacer(s.opts.CommitWindow, s.opts.windowFixed, s.opts.ObserveWindow, time.Now())
	if pace != nil {
		pace.statements = s.opts.ObserveStatements
	}
	var window *time.Timer
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					s.runBatch(c, []*writeReq{r}, nil, time.Now(), nil)
				default:
					return
				}
			}
		}
		start := time.Now()
		// With a batch lock (PostgreSQL: one batch at a time across the nodes), the
		// transaction begins and waits for the lock before the batch is gathered, so that
		// everything that arrived while another writer held the lock joins this batch
		// instead of waiting for the next turn.
		var begun *opened
		// A whole batch (whole.go) is not begun before it is sent.
		if _, _, whole := s.wholeNow(); s.beginLocks() && !s.opts.NoGroupCommit && !whole {
			if o, err := s.beginBatch(c); err == nil {
				begun = &o
			} else {
				_ = s.raw(c, "ROLLBACK") // the lock in the same text may have run; tryBatch begins again
			}
		}
		batch = append(batch[:0], first)
		if !s.opts.NoGroupCommit {
			batch = s.gather(batch)
			// The window is waited out whole, then what arrived meanwhile joins: one
			// wake-up instead of one per request.
			if w := pace.wait(); w > 0 && len(batch) < s.opts.MaxBatch {
				if f := s.gathering.Load(); f != nil {
					(*f)(len(batch))
				}
				if window == nil {
					window = time.NewTimer(w)
				} else {
					window.Reset(w)
				}
				<-window.C
				batch = s.gather(batch)
				start = time.Now()
			}
		}
		s.runBatch(c, batch, begun, start, pace)
		clear(batch)
	}
}

// gather adds the requests already waiting to batch, up to MaxBatch.
func (s *Store) gather(batch []*writeReq) []*writeReq {
	for len(batch) < s.opts.MaxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// opened is a writer transaction begun with the batch lock; hasGen: gen is the room cache
// generation and version the endpoint version, read under the lock in the same round trip;
// hasThreads: threads is the thread cache's version, read with them.
type opened struct {
	gen, version, threads int64
	hasGen, hasThreads    bool
}

// beginLocks reports whether the text that begins a batch also takes the batch lock (a
// dialect with the lock whose statements cost round trips: the two go in one).
func (s *Store) beginLocks() bool { return s.begin != s.d.Begin }

// beginBatch begins a writer transaction (with the batch lock where the dialect has one).
func (s *Store) beginBatch(c WriterConn) (opened, error) {
	if s.opts.ObserveLockWait != nil && s.beginLocks() {
		defer func(t0 time.Time) { s.opts.ObserveLockWait(time.Since(t0)) }(time.Now())
	}
	if s.beginGen {
		row, err := c.(BeginReader).BeginRead(s.wctx, s.begin)
		want := 2
		if s.threads != nil {
			want = 3
		}
		if err == nil && len(row) != want {
			err = fmt.Errorf("begin: read %d values, want the room cache generation, the endpoint version and, with a thread cache, its version (%d)", len(row), want)
		}
		if err != nil {
			return opened{}, err
		}
		o := opened{gen: row[0], version: row[1], hasGen: true}
		if s.threads != nil {
			o.threads, o.hasThreads = row[2], true
		}
		return o, nil
	}
	return opened{}, s.raw(c, s.begin)
}

func (s *Store) raw(c WriterConn, q string) error {
	_, err := c.Exec(s.wctx, q)
	return err
}

const maxBatchRetries = 5

// maxExclusions bounds how often one batch is run again without a request that failed
// after writing; past it, every request gets a savepoint.
const maxExclusions = 3

// errExclude asks for the batch to be run again without the request that failed after
// writing (it keeps its error).
var errExclude = errors.New("a request failed after writing: rerun without it")

// Why a write batch runs again (Options.ObserveRerun).
const (
	// RerunNotBegun: a batch sent whole was refused before any of it ran: its guard found
	// the caches stale (another node or program changed rooms, members, endpoints or
	// threads), or its BEGIN failed.
	RerunNotBegun = "not_begun"
	// RerunKeyNotNew: a thread or idempotency key the batch took to be new existed.
	RerunKeyNotNew = "key_not_new"
	// RerunKeyUnchecked: a request relied on a key taken to be new without inserting it.
	RerunKeyUnchecked = "key_unchecked"
	// RerunRequestFailed: a request failed after writing; the batch runs without it.
	RerunRequestFailed = "request_failed"
	// RerunUnmerge: a statement merged from several requests' failed; the batch runs with
	// its statements one by one to find whose.
	RerunUnmerge = "unmerge"
	// RerunRetryable: the database failed the transaction in a way worth retrying (a
	// deadlock, a serialization failure, a lost connection).
	RerunRetryable = "retryable"
)

// RerunReasons lists every reason ObserveRerun is told.
var RerunReasons = []string{RerunNotBegun, RerunKeyNotNew, RerunKeyUnchecked, RerunRequestFailed, RerunUnmerge, RerunRetryable}

// errNotBegun marks a whole batch's failure to begin (its guard, BEGIN or lock).
var errNotBegun = errors.New("the whole batch did not begin")

// errUnmerge asks for the batch to be run again with its statements sent one by one: a
// set-based statement of several requests failed, and which request's row failed is known
// only from the statements one by one (merge.go).
var errUnmerge = errors.New("a merged statement failed: rerun unmerged")

// runBatch runs the batch and answers it. begun, if not nil: the writer has already begun
// the transaction (with the batch lock) for the first attempt.
func (s *Store) runBatch(c WriterConn, batch []*writeReq, begun *opened, start time.Time, pace *pacer) {
	// Without savepoints (two statements fewer per request). A request that fails before
	// writing anything (a missing room, a sender who is not a member: the usual domain
	// errors, found by reads) changed nothing, so it is answered and the batch goes on. A
	// request that fails after writing forces a rollback: the batch runs again without it
	// (the requests before it redo the same work; it is not run again and keeps the error
	// it saw). After maxExclusions such reruns, every request gets a savepoint. Write
	// functions are re-runnable: they assign their results rather than accumulate them.
	for _, r := range batch {
		r.skip = false
	}
	pace.begin()
	savepoints, exclusions, unmerged, readKeys := false, 0, false, false
	rerun := func(reason string) {
		if s.opts.ObserveRerun != nil {
			s.opts.ObserveRerun(reason)
		}
	}
	for attempt := 0; ; attempt++ {
		retry, err := s.tryBatch(c, batch, savepoints, unmerged, readKeys, begun, pace)
		begun = nil
		if errors.Is(err, errUnmerge) && !unmerged {
			rerun(RerunUnmerge)
			unmerged = true
			attempt--
			continue
		}
		if errors.Is(err, errKeysRead) && !readKeys {
			// Answers may rest on a key taken to be new: every request runs again.
			if errors.Is(err, errKeyNotNew) {
				rerun(RerunKeyNotNew)
			} else {
				rerun(RerunKeyUnchecked)
			}
			readKeys = true
			runAllAgain(batch)
			attempt--
			continue
		}
		if errors.Is(err, errExclude) {
			rerun(RerunRequestFailed)
			if exclusions++; exclusions >= maxExclusions {
				savepoints = true
			}
			attempt--
			continue
		}
		if err == nil {
			break
		}
		if retry && attempt < maxBatchRetries {
			// Concurrent transactions may see other state on the retry: run every request
			// again, including those that failed in the aborted attempt.
			if errors.Is(err, errNotBegun) {
				rerun(RerunNotBegun)
			} else {
				rerun(RerunRetryable)
			}
			s.log.Debug("retrying write batch", slog.Int("attempt", attempt+1), slog.Any("error", err))
			runAllAgain(batch)
			continue
		}
		s.log.Error("write batch failed", slog.Int("requests", len(batch)), slog.Any("error", err))
		for _, r := range batch {
			if !r.skip {
				r.err = &chat.Error{Code: chat.CodeUnavailable, Message: "the database could not commit the write", Err: err}
			}
		}
		break
	}
	pace.batchDone(batch, time.Now())
	if s.opts.ObserveBatch != nil {
		s.opts.ObserveBatch(len(batch), time.Since(start))
	}
	for _, r := range batch {
		r.done <- struct{}{}
	}
}

// runAllAgain makes every request of the batch run in its next attempt, those answered in
// the last one included.
func runAllAgain(batch []*writeReq) {
	for _, r := range batch {
		r.err, r.skip = nil, false
	}
}

// tryBatch runs the batch's requests not yet answered (skip) in one transaction. It
// returns an error when the transaction as a whole failed (everything rolled back); retry
// tells whether running it again may work. Without savepoints, a request that fails after
// writing rolls everything back: it is answered (skip) and errExclude returned, unless no
// other request is left to run.
func (s *Store) tryBatch(c WriterConn, batch []*writeReq, savepoints, unmerged, readKeys bool, begun *opened, pace *pacer) (retry bool, err error) {
	for _, r := range batch {
		if !r.skip {
			r.err = nil
		}
	}
	tx := &Tx{s: s, c: c, noMerge: unmerged || savepoints, savepoints: savepoints, readKeys: readKeys}
	abort := func(retry bool, err error) (bool, error) {
		if !tx.unopened { // else nothing was sent: there is nothing to roll back
			_ = s.raw(c, "ROLLBACK")
		}
		// Not committed, or a failed COMMIT that may have: either way the numbers the
		// transaction knew of its rooms' events are not to be trusted.
		s.seqs.forget(tx.seqs)
		if err != nil {
			s.expect.forget()
		}
		return retry, err
	}
	whole := begun == nil && !savepoints && s.prepareWhole(tx)
	if s.threads != nil {
		tx.threads.base, tx.threads.baseOK = s.threads.snapshot()
	}
	if begun == nil && !whole { // else the writer began it, with the batch lock, before gathering the batch
		o, err := s.beginBatch(c)
		if err != nil {
			// With the batch lock in the same text, BEGIN may have run: roll back.
			return abort(s.d.Retryable(err), fmt.Errorf("begin: %w", err))
		}
		if s.d.BatchLock != "" && !s.beginLocks() {
			if err := s.raw(c, s.d.BatchLock); err != nil {
				return abort(s.d.Retryable(err), fmt.Errorf("batch lock: %w", err))
			}
		}
		begun = &o
	}
	if begun != nil && begun.hasGen {
		s.rooms.atGeneration(begun.gen)
		tx.gen, tx.genChecked = begun.gen, true
		tx.version, tx.versionRead = begun.version, true
		if begun.hasThreads {
			// The thread data's version as this transaction found it under the batch lock:
			// the thread cache, if it holds that version, is exact for the batch without a guard.
			tx.threads.base, tx.threads.baseOK = begun.threads, true
			tx.threadsLocked = true
		}
	}
	if begun != nil && begun.hasGen || whole {
		if err := s.readBatch(tx, batch); err != nil {
			if tx.openErr != nil {
				// A whole batch's BEGIN, lock or guard failed, sent with the reads: nothing
				// of the batch ran. It runs again, begun first.
				return abort(true, tx.openErr)
			}
			return abort(s.d.Retryable(err) || s.connectionFailed(err), fmt.Errorf("read ahead: %w", err))
		}
	}
	defer func() {
		// It changed cached data: committed or not, start again.
		if tx.roomData {
			s.rooms.drop()
		}
		if tx.roomDeleted {
			s.seqs.drop()
		}
	}()
	if s.d.NotifyChannel != "" {
		tx.rooms = map[string]struct{}{}
	}
	live := 0
	for _, r := range batch {
		if r.skip {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.err, r.skip = fmt.Errorf("%s: write: %w", s.d.Name, err), true
			continue
		}
		if savepoints {
			if err := s.raw(c, "SAVEPOINT w"); err != nil {
				return abort(s.d.Retryable(err), fmt.Errorf("savepoint: %w", err))
			}
		}
		tx.wrote, tx.broken, tx.cur = false, false, r
		err := s.call(r.fn, tx)
		if tx.openErr != nil {
			// BEGIN, the lock or the guard of a whole batch failed, sent with this
			// request's statement: nothing of the batch ran. It runs again, begun first.
			return abort(true, tx.openErr)
		}
		if tx.mergeFailed {
			// A statement merged from several requests' failed, sent with this one's:
			// which request it was is known only from the statements one by one.
			return abort(false, errUnmerge)
		}
		if tx.keyTaken {
			return abort(false, s.keyNotNew())
		}
		if tx.newKeysUnchecked() {
			// The request relied on a key being new and did not insert it: nothing would
			// check that, so the batch runs again reading its keys.
			return abort(false, errKeyUnchecked)
		}
		if savepoints {
			// Under savepoints each request's statements are sent before its RELEASE.
			if err == nil {
				err = tx.flush()
			}
			tx.pending, tx.labels, tx.owners = nil, nil, nil
		}
		if err != nil && s.d.Retryable(err) {
			return abort(true, err)
		}
		if err != nil && s.connectionFailed(err) {
			// The connection failed, not the request: the transaction is gone for all of
			// them. Run the batch again (its BEGIN reconnects) or answer unavailable.
			return abort(true, err)
		}
		if tx.earlier != nil {
			// A statement an earlier request deferred failed when this one's statement
			// took it along: that request failed after writing. Run the batch without it.
			tx.earlier.err, tx.earlier.skip = tx.earlierErr, true
			return abort(false, errExclude)
		}
		if err != nil {
			r.err, r.skip = err, true
			switch {
			case !tx.wrote && !tx.broken:
				// Nothing to undo: the transaction goes on as if the request never ran.
				if savepoints {
					if err := s.raw(c, "RELEASE SAVEPOINT w"); err != nil {
						return abort(s.d.Retryable(err), fmt.Errorf("release savepoint: %w", err))
					}
				}
				continue
			case savepoints:
				if rbErr := s.raw(c, "ROLLBACK TO SAVEPOINT w"); rbErr != nil {
					return abort(s.d.Retryable(rbErr), fmt.Errorf("rollback to savepoint: %w", rbErr))
				}
				tx.versionRead = false // it may have been read after the request's endpoint change
				tx.forgetReads()
				tx.threads.lost = tx.threads.lost || tx.threads.any() // which of them were undone is not kept
			default:
				for _, o := range batch {
					if !o.skip {
						return abort(false, errExclude)
					}
				}
				if err := tx.checkCachedAnswers(); err != nil {
					return abort(true, err)
				}
				_, _ = abort(false, nil) // nobody else to run
				return false, nil
			}
		} else {
			live++
		}
		if savepoints {
			if err := s.raw(c, "RELEASE SAVEPOINT w"); err != nil {
				return abort(s.d.Retryable(err), fmt.Errorf("release savepoint: %w", err))
			}
		}
	}
	if live == 0 {
		if err := tx.checkCachedAnswers(); err != nil {
			return abort(true, err)
		}
		_, _ = abort(false, nil)
		return false, nil
	}
	tx.cur = nil
	// A failed COMMIT (or a connection lost while it ran) is not run again, except for a
	// serialization failure: the transaction may have committed, and running the batch
	// again could write it twice.
	notify := s.notifications(tx)
	var stmtErr, commitErr error
	pace.stop() // a commit's flush is the disk's time, not a wait for a CPU
	var threadsEnd, threadsBumped int64
	threadsEndRead := false
	if _, ok := c.(Pipeliner); ok && s.d.RoundTrips {
		// The deferred statements, the notifications and COMMIT in one round trip.
		after := s.notifyStmts(notify)
		if s.threads != nil && tx.threads.any() {
			// The thread cache's version as this transaction leaves it, and whose bump it was.
			after = append(after, Stmt{SQL: s.sql(s.d.ThreadVersionEnd), Scan: func(r Row) error {
				threadsEndRead = true
				return r.Scan(&threadsEnd, &threadsBumped)
			}})
		}
		stmtErr, commitErr = tx.flushAndCommit(after)
	} else {
		// Statements ran as they came (nothing is deferred without pipelining).
		commitErr = s.commit(c, notify)
	}
	pace.run()
	switch {
	case tx.mergeFailed && stmtErr != nil:
		return abort(false, errUnmerge)
	case tx.keyTaken && stmtErr != nil:
		return abort(false, s.keyNotNew())
	case tx.openErr != nil && stmtErr != nil:
		// BEGIN, the lock or the guard failed, and the database said so: nothing of the
		// batch ran (not its COMMIT either). It runs again, begun first.
		return abort(true, tx.openErr)
	case commitErr != nil:
		return abort(s.d.Retryable(commitErr), fmt.Errorf("commit: %w", commitErr))
	case stmtErr == nil:
		s.settleSeqs(tx)
		if s.threads != nil && tx.threads.any() {
			if threadsEndRead && !tx.threads.lost {
				s.threads.commit(&tx.threads, threadsEnd, threadsBumped == 1)
			} else {
				s.threads.forget()
			}
		}
		if begun != nil && begun.hasGen || whole {
			if tx.roomData || tx.endpoints {
				s.expect.forget()
			} else {
				s.expect.set(tx.gen, tx.version)
			}
		}
		return false, nil
	case s.d.Retryable(stmtErr):
		return abort(true, stmtErr)
	case tx.earlier == nil:
		return abort(false, stmtErr) // no request to blame: the batch fails
	}
	// A deferred statement failed at the end: its request failed after writing. The
	// batch runs again without it.
	tx.earlier.err, tx.earlier.skip = tx.earlierErr, true
	for _, o := range batch {
		if !o.skip {
			return abort(false, errExclude)
		}
	}
	_, _ = abort(false, nil)
	return false, nil
}

// commit sends the commit notifications and COMMIT, one statement at a time (a writer
// connection that does not pipeline).
func (s *Store) commit(c WriterConn, notify []string) error {
	for _, st := range s.notifyStmts(notify) {
		if _, err := c.Exec(s.wctx, st.SQL, st.Args...); err != nil {
			return err
		}
	}
	return s.raw(c, "COMMIT")
}

// notifyStmts are the statements that send the commit notifications.
func (s *Store) notifyStmts(notify []string) []Stmt {
	stmts := make([]Stmt, 0, len(notify)+1) // room for the COMMIT
	for _, p := range notify {
		stmts = append(stmts, Stmt{SQL: s.sql(`SELECT pg_notify(?, ?)`), Args: []any{s.d.NotifyChannel, p}})
	}
	return stmts
}

// connectionFailed reports whether err means the database connection failed (lost, closed,
// cut by the network) rather than the request's own statement.
func (s *Store) connectionFailed(err error) bool {
	return chat.ErrorCode(err) == chat.CodeUnavailable || s.d.Classify(err) == chat.CodeUnavailable
}

// Commit notifications name rooms, one a line; these lines (which no room id can be, as
// ids have no "!") say that endpoints changed, that deliveries nobody holds were written
// or released, or that webhook tokens were changed or revoked.
const (
	NotifyEndpoints  = "!endpoints"
	NotifyDeliveries = "!deliveries"
	NotifyWebhooks   = "!webhooks"
)

// maxNotifyPayload stays under PostgreSQL's 8000-byte NOTIFY payload limit.
const maxNotifyPayload = 7000

// notifications are the payloads of the commit notifications of tx (none without a
// notification channel or when it changed nothing others must hear of): the rooms that
// got events, and lines for endpoints, deliveries and webhooks.
func (s *Store) notifications(tx *Tx) []string {
	if s.d.NotifyChannel == "" || (len(tx.rooms) == 0 && !tx.endpoints && !tx.deliveries && !tx.webhooks) {
		return nil
	}
	if tx.endpoints {
		tx.rooms[NotifyEndpoints] = struct{}{}
	}
	if tx.webhooks {
		tx.rooms[NotifyWebhooks] = struct{}{}
	}
	if tx.deliveries {
		tx.rooms[NotifyDeliveries] = struct{}{}
	}
	var payloads []string
	payload := make([]byte, 0, 256)
	payload = append(payload, s.opts.NodeID...)
	for room := range tx.rooms {
		if len(payload)+1+len(room) > maxNotifyPayload {
			payloads = append(payloads, string(payload))
			payload = append(payload[:0], s.opts.NodeID...)
		}
		payload = append(payload, '\n')
		payload = append(payload, room...)
	}
	return append(payloads, string(payload))
}

// call runs fn, turning a panic into an error so one bad request cannot kill a writer.
func (s *Store) call(fn func(chat.Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("write function panicked", slog.Any("panic", p))
			err = fmt.Errorf("%s: write function panicked: %v", s.d.Name, p)
		}
	}()
	return fn(tx)
}
