// Package delivery is the outgoing-webhook engine. The database is the queue: deliveries
// are rows written with their event (chat.Service.fanOut); the engine claims due rows in
// batches as leases (through the store's writer), sends them through the shared egress
// client in per-endpoint lanes, and records every attempt in batches.
//
// Isolation: each endpoint has its own in-flight bound (max_in_flight), optional rate
// limit and circuit breaker, and claims are made per endpoint for exactly the free slots,
// so a slow or dead endpoint holds only its own slots and rows. First attempts and retries
// have separate quotas (retries get at most half the slots), so retries never delay fresh
// events. The engine wakes on committed events (Publish), on its own timer for the next
// due retry or breaker probe, and when poked; it never polls on the hot path.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/metrics"
)

// Options configure an Engine.
type Options struct {
	Store   chat.Store
	Box     chat.SecretBox
	Client  *http.Client // the egress client
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics *metrics.Metrics // may be nil
	AppID   string           // Sendbird app_id
	NodeID  string           // lease owner; generated when empty
	// LeaseMargin is added to an endpoint's timeout to make a claim's lease (default 30s).
	LeaseMargin time.Duration
	// Rescan is the idle safety re-scan period (default 30s): it catches work written by
	// other nodes and anything whose wake-up was missed. It is not on the hot path.
	Rescan time.Duration
}

// Engine delivers outgoing webhooks.
type Engine struct {
	o     Options
	owner string

	wake    chan struct{}
	results chan result

	mu           sync.Mutex
	lanes        map[string]*lane
	epDirty      bool
	dueDirty     bool
	newTypes     map[string]struct{}
	inflight     sync.WaitGroup
	rnd          *rand.Rand
	nextSelfWake time.Time

	events *eventCache

	sendCtx    context.Context
	cancelSend context.CancelFunc
	stop       context.CancelFunc
	loopDone   chan struct{}
	recDone    chan struct{}
	started    bool
}

// result is one finished attempt (or a release when the send was cut by shutdown).
type result struct {
	r       chat.DeliveryResult
	release bool
}

// New returns an engine; Start runs it.
func New(o Options) *Engine {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.NodeID == "" {
		o.NodeID = ids.New("node", time.Now())
	}
	if o.LeaseMargin <= 0 {
		o.LeaseMargin = 30 * time.Second
	}
	if o.Rescan <= 0 {
		o.Rescan = 30 * time.Second
	}
	e := &Engine{
		o: o, owner: o.NodeID, wake: make(chan struct{}, 1), results: make(chan result, 4096),
		lanes: map[string]*lane{}, epDirty: true, dueDirty: true, newTypes: map[string]struct{}{},
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), events: newEventCache(1 << 16),
	}
	e.sendCtx, e.cancelSend = context.WithCancel(context.Background())
	return e
}

// singleNode is implemented by stores that belong to one process (SQLite).
type singleNode interface{ SingleNode() bool }

// Start releases stale leases on single-node stores (after a crash, no other process can
// hold one, so they are sent again at once) and starts the dispatcher and the recorder.
func (e *Engine) Start(ctx context.Context) error {
	if sn, ok := e.o.Store.(singleNode); ok && sn.SingleNode() {
		var n int64
		err := e.o.Store.Write(ctx, func(tx chat.Tx) error {
			var err error
			n, err = tx.ReleaseAllLeases()
			return err
		})
		if err != nil {
			return fmt.Errorf("delivery: release stale leases: %w", err)
		}
		if n > 0 {
			e.o.Log.Info("released delivery leases of a previous run", slog.Int64("deliveries", n))
		}
	}
	lctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	e.loopDone, e.recDone = make(chan struct{}), make(chan struct{})
	e.started = true
	go e.recorder()
	go e.loop(lctx)
	e.Poke()
	return nil
}

// Stop stops claiming, lets in-flight sends finish within ctx (then cuts them), records
// their outcomes, and releases the leases of anything not sent.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.started {
		return nil
	}
	e.stop()
	<-e.loopDone
	done := make(chan struct{})
	go func() { e.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.cancelSend()
		<-done
	}
	close(e.results)
	<-e.recDone
	e.cancelSend()
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.o.Store.Write(wctx, func(tx chat.Tx) error { return tx.ReleaseDeliveries(e.owner, nil) })
	if err != nil {
		return fmt.Errorf("delivery: release leases: %w", err)
	}
	return nil
}

// Poke makes the engine look for due work now (after a fake clock moved, for instance).
func (e *Engine) Poke() {
	e.mu.Lock()
	e.dueDirty = true
	for _, l := range e.lanes {
		l.dirty = true
	}
	e.mu.Unlock()
	e.signal()
}

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Publish implements chat.Publisher: committed events may have deliveries.
func (e *Engine) Publish(events []chat.Event) {
	e.events.add(events)
	e.mu.Lock()
	for i := range events {
		e.newTypes[events[i].Type] = struct{}{}
	}
	e.mu.Unlock()
	e.signal()
}

// EndpointsChanged implements chat.OutboundNotifier.
func (e *Engine) EndpointsChanged() {
	e.mu.Lock()
	e.epDirty = true
	e.mu.Unlock()
	e.signal()
}

// DeliveriesDue implements chat.OutboundNotifier.
func (e *Engine) DeliveriesDue() { e.Poke() }

func (e *Engine) loop(ctx context.Context) {
	defer close(e.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := e.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if wait == 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
			e.mu.Lock()
			if e.nextSelfWake.IsZero() { // the idle re-scan
				e.dueDirty = true
				for _, l := range e.lanes {
					l.dirty = true
				}
			}
			e.mu.Unlock()
		}
	}
}

// round does one dispatch step and returns how long to wait for the next (0: at once).
func (e *Engine) round(ctx context.Context) time.Duration {
	if err := e.refresh(ctx); err != nil {
		if ctx.Err() == nil {
			e.o.Log.Warn("delivery: refresh", slog.Any("error", err))
		}
		return time.Second
	}
	now := e.o.Clock.Now()
	e.mu.Lock()
	var wants []chat.ClaimWant
	var wakeAt time.Time
	maxTimeout := time.Duration(0)
	for id, l := range e.lanes {
		first, retry, w := l.capacity(now)
		if !w.IsZero() && (wakeAt.IsZero() || w.Before(wakeAt)) {
			wakeAt = w
		}
		if !l.retryDue.IsZero() && l.retryDue.After(now) && (wakeAt.IsZero() || l.retryDue.Before(wakeAt)) {
			wakeAt = l.retryDue
		}
		if !l.expiresSecret.IsZero() && (wakeAt.IsZero() || l.expiresSecret.Before(wakeAt)) {
			wakeAt = l.expiresSecret
		}
		if first+retry > 0 {
			wants = append(wants, chat.ClaimWant{EndpointID: id, First: first, Retry: retry})
			maxTimeout = max(maxTimeout, l.ep.Timeout())
		}
	}
	e.mu.Unlock()
	if len(wants) > 0 {
		more, err := e.claim(ctx, now, wants, maxTimeout)
		if err != nil {
			if ctx.Err() == nil {
				e.o.Log.Warn("delivery: claim", slog.Any("error", err))
			}
			return time.Second
		}
		if more {
			return 0
		}
	}
	wait := e.o.Rescan
	e.mu.Lock()
	if e.dueDirty {
		// A retry claim came back short: the lane's due time is stale. Look again soon (the
		// next round reloads due times and sets an exact wake-up) rather than at the idle
		// re-scan; not at once, as due retries leased by another node would make it spin.
		wait = min(wait, time.Second)
	}
	e.nextSelfWake = time.Time{}
	if !wakeAt.IsZero() {
		if d := wakeAt.Sub(now); d < wait {
			wait = max(d, time.Millisecond)
			e.nextSelfWake = wakeAt
		}
	}
	e.mu.Unlock()
	return wait
}

// refresh reloads endpoints and retry due times when they may have changed, and marks the
// lanes that new events may concern.
func (e *Engine) refresh(ctx context.Context) error {
	e.mu.Lock()
	epDirty, dueDirty := e.epDirty, e.dueDirty
	e.epDirty, e.dueDirty = false, false
	for _, l := range e.lanes {
		if !l.expiresSecret.IsZero() && !e.o.Clock.Now().Before(l.expiresSecret) {
			epDirty = true
		}
	}
	if len(e.newTypes) > 0 {
		for _, l := range e.lanes {
			for t := range e.newTypes {
				if l.ep.Wants(t) {
					l.dirty = true
					break
				}
			}
		}
		clear(e.newTypes)
	}
	e.mu.Unlock()
	if epDirty {
		eps, err := e.o.Store.ListEndpoints(ctx, "", 0)
		if err != nil {
			e.mu.Lock()
			e.epDirty = true
			e.mu.Unlock()
			return err
		}
		now := e.o.Clock.Now()
		opened := make(map[string]*endpoint, len(eps))
		for _, ce := range eps {
			ep, err := openEndpoint(ce, e.o.Box, now)
			if err != nil {
				e.o.Log.Error("delivery: endpoint cannot be used", slog.String("endpoint_id", ce.ID), slog.Any("error", err))
				continue
			}
			opened[ce.ID] = ep
		}
		e.mu.Lock()
		for id, l := range e.lanes {
			if _, ok := opened[id]; !ok && l.inFlight() == 0 {
				delete(e.lanes, id)
			}
		}
		for id, ep := range opened {
			if l, ok := e.lanes[id]; ok {
				l.setEndpoint(ep)
				l.dirty = true
			} else {
				e.lanes[id] = newLane(ep)
			}
		}
		e.mu.Unlock()
		dueDirty = true
	}
	if dueDirty {
		dues, err := e.o.Store.RetryDueTimes(ctx)
		if err != nil {
			e.mu.Lock()
			e.dueDirty = true
			e.mu.Unlock()
			return err
		}
		e.mu.Lock()
		for id, l := range e.lanes {
			l.retryDue = dues[id]
		}
		e.mu.Unlock()
	}
	return nil
}

// claim leases what the lanes asked for and starts sending it. more reports that some lane
// got all it asked for and has room left (more may be waiting).
func (e *Engine) claim(ctx context.Context, now time.Time, wants []chat.ClaimWant, timeout time.Duration) (bool, error) {
	var got []chat.Claimed
	c := chat.Claim{Owner: e.owner, Now: now, LeaseUntil: now.Add(timeout + e.o.LeaseMargin), Wants: wants}
	err := e.o.Store.Write(ctx, func(tx chat.Tx) error {
		var err error
		got, err = tx.ClaimDeliveries(c)
		return err
	})
	if err != nil {
		return false, err
	}
	// Endpoints changed since this round's refresh (a rotation, an update): reload them
	// before sending, so a delivery created after the change is never signed or addressed
	// with what came before it (lanes take the new endpoint in place).
	e.mu.Lock()
	stale := e.epDirty
	e.mu.Unlock()
	if stale && len(got) > 0 {
		if err := e.refresh(ctx); err != nil {
			_ = e.o.Store.Write(context.Background(), func(tx chat.Tx) error { return tx.ReleaseDeliveries(e.owner, claimedIDs(got)) })
			return false, err
		}
	}
	byEP := map[string][2]int{}
	for _, d := range got {
		n := byEP[d.EndpointID]
		if d.AttemptCount == 0 {
			n[0]++
		} else {
			n[1]++
		}
		byEP[d.EndpointID] = n
	}
	more := false
	e.mu.Lock()
	for _, w := range wants {
		l := e.lanes[w.EndpointID]
		n := byEP[w.EndpointID]
		if l == nil {
			continue
		}
		l.took(n[0], n[1], now)
		if n[0] < w.First {
			l.dirty = false
		}
		if n[1] < w.Retry {
			l.retryDue = time.Time{}
			e.dueDirty = true
		}
		if (w.First > 0 && n[0] == w.First) || (w.Retry > 0 && n[1] == w.Retry) {
			more = true
		}
	}
	e.inflight.Add(len(got))
	e.mu.Unlock()
	if len(got) == 0 {
		return false, nil
	}
	evs, err := e.loadEvents(ctx, got)
	if err != nil {
		// Give the claims back; they are retried on the next round.
		e.mu.Lock()
		for _, d := range got {
			if l := e.lanes[d.EndpointID]; l != nil {
				if d.AttemptCount == 0 {
					l.inFirst--
				} else {
					l.inRetry--
				}
			}
		}
		e.mu.Unlock()
		for range got {
			e.inflight.Done()
		}
		_ = e.o.Store.Write(context.Background(), func(tx chat.Tx) error { return tx.ReleaseDeliveries(e.owner, claimedIDs(got)) })
		return false, err
	}
	for _, d := range got {
		e.mu.Lock()
		l := e.lanes[d.EndpointID]
		e.mu.Unlock()
		ev, ok := evs[d.EventID]
		go e.send(l, d, ev, ok)
	}
	return more, nil
}

func claimedIDs(cs []chat.Claimed) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// loadEvents returns the claimed deliveries' events, from the cache of recently published
// events or the store.
func (e *Engine) loadEvents(ctx context.Context, got []chat.Claimed) (map[string]*chat.Event, error) {
	out := make(map[string]*chat.Event, len(got))
	var missing []string
	for _, d := range got {
		if _, ok := out[d.EventID]; ok {
			continue
		}
		if ev, ok := e.events.get(d.EventID); ok {
			out[d.EventID] = ev
		} else {
			out[d.EventID] = nil
			missing = append(missing, d.EventID)
		}
	}
	for len(missing) > 0 {
		n := min(len(missing), 200)
		evs, err := e.o.Store.EventsByID(ctx, missing[:n])
		if err != nil {
			return nil, err
		}
		for i := range evs {
			out[evs[i].ID] = &evs[i]
		}
		missing = missing[n:]
	}
	for id, ev := range out {
		if ev == nil {
			delete(out, id)
		}
	}
	return out, nil
}

// recorder writes attempt outcomes in batches through the store's writer.
func (e *Engine) recorder() {
	defer close(e.recDone)
	const maxBatch = 1024
	batch := make([]chat.DeliveryResult, 0, maxBatch)
	var release []string
	for {
		r, ok := <-e.results
		if !ok {
			return
		}
		batch, release = batch[:0], release[:0]
		add := func(r result) {
			if r.release {
				release = append(release, r.r.ID)
			} else {
				batch = append(batch, r.r)
			}
		}
		add(r)
	drain:
		for len(batch)+len(release) < maxBatch {
			select {
			case r, ok := <-e.results:
				if !ok {
					break drain
				}
				add(r)
			default:
				break drain
			}
		}
		e.flush(batch, release)
	}
}

func (e *Engine) flush(batch []chat.DeliveryResult, release []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.o.Store.Write(ctx, func(tx chat.Tx) error {
		if len(release) > 0 {
			if err := tx.ReleaseDeliveries(e.owner, release); err != nil {
				return err
			}
		}
		return tx.CompleteDeliveries(batch)
	})
	if err != nil {
		// The leases expire and the deliveries are sent again: at least once.
		if !errors.Is(err, context.Canceled) {
			e.o.Log.Error("delivery: record attempts", slog.Int("attempts", len(batch)), slog.Any("error", err))
		}
		return
	}
	retry, disable := false, false
	for _, r := range batch {
		retry = retry || r.Status == chat.DeliveryFailed
		disable = disable || r.Disable
	}
	if retry || disable || len(release) > 0 {
		e.mu.Lock()
		e.dueDirty = e.dueDirty || retry
		e.epDirty = e.epDirty || disable
		if len(release) > 0 {
			for _, l := range e.lanes {
				l.dirty = true
			}
		}
		e.mu.Unlock()
		e.signal()
	}
}
