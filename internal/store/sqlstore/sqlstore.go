// Package sqlstore is the storage engine shared by the SQLite and PostgreSQL backends:
// the group-commit writers, the chat.Tx operations and the chat.Reader queries, written
// once in SQL both engines accept, with the differences held in a Dialect.
//
// Group commit: write requests queue on a channel; each writer goroutine owns one
// connection, takes whatever is queued (up to MaxBatch) and runs it as ONE transaction with
// a savepoint per request, so a failing request rolls back alone. No caller is answered
// before the commit is durable. SQLite runs one writer; PostgreSQL several.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Options tune the engine.
type Options struct {
	Logger *slog.Logger
	// MaxBatch caps how many write requests share one transaction (default 256).
	MaxBatch int
	// ObserveBatch, if set, is called after each commit with the number of requests in it.
	ObserveBatch func(n int)
	// NoGroupCommit commits every request alone (for benchmarks that compare).
	NoGroupCommit bool
	// NodeID identifies this process in commit notifications (dialects with NotifyChannel).
	NodeID string
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

	claimFirst, claimRetry string      // delivery claims with the dialect's row locking
	routes                 routesCache // outgoing endpoint routing table (delivery.go)
}

type writeReq struct {
	ctx  context.Context
	fn   func(chat.Tx) error
	err  error
	done chan struct{}
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
		reqs: make(chan *writeReq, 4096), stop: make(chan struct{}), sqlFor: map[string]string{},
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

// Write implements chat.Store: fn runs in a writer's current batch transaction; Write
// returns once that transaction is durable.
func (s *Store) Write(ctx context.Context, fn func(chat.Tx) error) error {
	r := reqPool.Get().(*writeReq)
	r.ctx, r.fn, r.err = ctx, fn, nil
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
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					s.runBatch(c, []*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		if !s.opts.NoGroupCommit {
		drain:
			for len(batch) < s.opts.MaxBatch {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
		}
		s.runBatch(c, batch)
		clear(batch)
	}
}

func (s *Store) raw(c WriterConn, q string) error {
	_, err := c.Exec(s.wctx, q)
	return err
}

const maxBatchRetries = 5

// errNeedSavepoints asks for the batch to be run again with a savepoint per request.
var errNeedSavepoints = errors.New("a request failed: rerun with savepoints")

func (s *Store) runBatch(c WriterConn, batch []*writeReq) {
	// Optimistically without savepoints (two statements fewer per request); if a request
	// fails, the transaction is rolled back and the batch runs again with a savepoint per
	// request, so only the failing request's changes are undone. Write functions are
	// re-runnable: they assign their results rather than accumulate them.
	savepoints := len(batch) == 1
	for attempt := 0; ; attempt++ {
		retry, err := s.tryBatch(c, batch, savepoints)
		if errors.Is(err, errNeedSavepoints) {
			savepoints = true
			for _, r := range batch {
				r.err = nil
			}
			attempt--
			continue
		}
		if err == nil {
			break
		}
		if retry && attempt < maxBatchRetries {
			s.log.Debug("retrying write batch", slog.Int("attempt", attempt+1), slog.Any("error", err))
			for _, r := range batch {
				r.err = nil
			}
			continue
		}
		s.log.Error("write batch failed", slog.Int("requests", len(batch)), slog.Any("error", err))
		for _, r := range batch {
			if r.err == nil {
				r.err = &chat.Error{Code: chat.CodeUnavailable, Message: "the database could not commit the write", Err: err}
			}
		}
		break
	}
	if s.opts.ObserveBatch != nil {
		s.opts.ObserveBatch(len(batch))
	}
	for _, r := range batch {
		r.done <- struct{}{}
	}
}

// tryBatch runs the batch in one transaction. It returns an error when the transaction as
// a whole failed (everything rolled back); retry tells whether running it again may work.
// Without savepoints, a failing request rolls everything back and errNeedSavepoints is
// returned (a batch of one just reports its error).
func (s *Store) tryBatch(c WriterConn, batch []*writeReq, savepoints bool) (retry bool, err error) {
	if err := s.raw(c, s.d.Begin); err != nil {
		return s.d.Retryable(err), fmt.Errorf("begin: %w", err)
	}
	abort := func(retry bool, err error) (bool, error) {
		_ = s.raw(c, "ROLLBACK")
		return retry, err
	}
	if s.d.BatchLock != "" {
		if err := s.raw(c, s.d.BatchLock); err != nil {
			return abort(s.d.Retryable(err), fmt.Errorf("batch lock: %w", err))
		}
	}
	tx := &Tx{s: s, c: c}
	if s.d.NotifyChannel != "" {
		tx.rooms = map[string]struct{}{}
	}
	live := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("%s: write: %w", s.d.Name, err)
			continue
		}
		live++
		if savepoints {
			if err := s.raw(c, "SAVEPOINT w"); err != nil {
				return abort(s.d.Retryable(err), fmt.Errorf("savepoint: %w", err))
			}
		}
		err := s.call(r.fn, tx)
		if err != nil && s.d.Retryable(err) {
			return abort(true, err)
		}
		if err != nil && !savepoints {
			if len(batch) == 1 {
				r.err = err
				_, _ = abort(false, nil)
				return false, nil
			}
			return abort(false, errNeedSavepoints)
		}
		if err != nil {
			if rbErr := s.raw(c, "ROLLBACK TO SAVEPOINT w"); rbErr != nil {
				return abort(s.d.Retryable(rbErr), fmt.Errorf("rollback to savepoint: %w", rbErr))
			}
			r.err = err
		}
		if savepoints {
			if err := s.raw(c, "RELEASE SAVEPOINT w"); err != nil {
				return abort(s.d.Retryable(err), fmt.Errorf("release savepoint: %w", err))
			}
		}
	}
	if live == 0 {
		_, _ = abort(false, nil)
		return false, nil
	}
	if s.d.NotifyChannel != "" && (len(tx.rooms) > 0 || tx.endpoints || tx.deliveries) {
		if tx.endpoints {
			tx.rooms[NotifyEndpoints] = struct{}{}
		}
		if tx.deliveries {
			tx.rooms[NotifyDeliveries] = struct{}{}
		}
		if err := s.notify(c, tx.rooms); err != nil {
			return abort(s.d.Retryable(err), fmt.Errorf("notify: %w", err))
		}
	}
	if err := s.raw(c, "COMMIT"); err != nil {
		return abort(s.d.Retryable(err), fmt.Errorf("commit: %w", err))
	}
	return false, nil
}

// Commit notifications name rooms, one a line; these lines (which no room id can be, as
// ids have no "!") say that endpoints changed, or that deliveries nobody holds were
// written or released.
const (
	NotifyEndpoints  = "!endpoints"
	NotifyDeliveries = "!deliveries"
)

// maxNotifyPayload stays under PostgreSQL's 8000-byte NOTIFY payload limit.
const maxNotifyPayload = 7000

// notify announces, at commit, the rooms that got events in this transaction.
func (s *Store) notify(c WriterConn, rooms map[string]struct{}) error {
	payload := make([]byte, 0, 256)
	flush := func() error {
		_, err := c.Exec(s.wctx, s.sql(`SELECT pg_notify(?, ?)`), s.d.NotifyChannel, string(payload))
		return err
	}
	payload = append(payload, s.opts.NodeID...)
	for room := range rooms {
		if len(payload)+1+len(room) > maxNotifyPayload {
			if err := flush(); err != nil {
				return err
			}
			payload = append(payload[:0], s.opts.NodeID...)
		}
		payload = append(payload, '\n')
		payload = append(payload, room...)
	}
	return flush()
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
