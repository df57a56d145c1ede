// Package delivery is the engine that sends deliveries: each event to each endpoint it
// matches, signed in the endpoint's format, retried on its schedule.
//
// Invariants. The database is the durable queue; memory holds the work. The transaction
// that writes an event writes its delivery rows leased to this node, and after the commit
// Dispatch hands them to the engine, so fresh work costs no claim. The engine's state is a
// map of lanes, one per endpoint, guarded by one mutex: a lane holds exactly the
// deliveries this node leases for that endpoint and has not finished — a FIFO of first
// attempts, a heap of retries by due time, and those in flight or being recorded — all
// indexed by held (bounded by Options.MaxHeld; what does not fit is given back to the
// store). A fifo endpoint's lane instead holds the head of the endpoint's unfinished
// deliveries in commit order, claimed from the store (they are written unleased), and sends
// one at a time, the next only once the one before it succeeded or died. On SQLite a lease lasts until the process restarts (Start releases them all);
// on PostgreSQL it lasts an endpoint timeout plus LeaseMargin and the renewer extends it,
// so other nodes take a dead node's work when its leases expire. Goroutines: Dispatch
// runs on the writer's caller and only appends to lanes; the dispatcher loop (one) reloads
// endpoints when they changed, claims from the store for lanes marked scan, and starts
// send goroutines within each lane's in-flight bound, breaker and rate limit; a send
// goroutine makes an attempt, hands its outcome to the recorder and, in the same critical
// section that frees its slot, takes the lane's next delivery if take allows one (not
// once Stop began, nor while endpoints wait to be reloaded), ending and signalling the
// loop when there is none; the recorder
// (one) writes outcomes in batches and then puts failed deliveries in their lane's retry
// heap; the renewer (PostgreSQL only) extends this node's leases. Every change to the
// state is made under the mutex and followed by a signal on a one-slot channel that the
// loop drains before it reads the state, and flags (epDirty, lane.scan) are cleared when
// read, never from the result of a later store call, so no wake-up is lost. The store is
// read only to recover work nobody holds: at start, after a lane overflowed, when another
// node released work, when a lease or an unheld retry comes due (NextClaimable, asked
// again every renewal period: the renewer renews only what this node holds, so a row
// leased to it that it never held is claimed when that lease ends), and on the periodic
// safety re-scan, whose finds are counted (chathooks_delivery_rescan_found_total) because
// they mean a missed wake-up.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/ids"
	"github.com/chathooks/chathooks/internal/metrics"
)

// Options configure an Engine.
type Options struct {
	Store chat.Store
	Box   chat.SecretBox
	// Transport (required) sends the attempts: the SSRF-guarded egress client's (it follows no
	// redirects: a 3xx is the attempt's answer).
	Transport http.RoundTripper
	Clock     clock.Clock
	Log       *slog.Logger
	Metrics   *metrics.Metrics // may be nil
	AppID     string           // Sendbird app_id
	NodeID    string           // lease owner; generated when empty
	// LeaseMargin is added to the longest endpoint timeout to make a lease (default 30s):
	// how long a dead node's deliveries wait before another node takes them.
	LeaseMargin time.Duration
	// Rescan is the period of the safety re-scan (default 30s).
	Rescan time.Duration
	// MaxHeld bounds the deliveries one endpoint's lane holds in memory (default 10,000);
	// the rest wait in the store and are claimed as the lane drains.
	MaxHeld int
	// OnChange, if set, is told of endpoint health changes (breaker opened, success after
	// failures or a lane's first success, 410 Gone, dead delivery). It is called from send
	// goroutines, outside the engine's lock, and must not block (failure alerts queue them).
	OnChange func(chat.EndpointChange)
}

// claimBatch is the most deliveries one lane claims from the store at a time.
const claimBatch = 1000

// fifoClaim is the most deliveries a fifo lane holds from one claim: it sends one at a time.
const fifoClaim = 256

// recordBatch is the most outcomes one write records, so that a write of outcomes stays
// short beside the posts that share the writer.
const recordBatch = 512

// singleNodeLease is the lease of a single-node store: until the process restarts.
var singleNodeLease = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Engine sends deliveries.
type Engine struct {
	o      Options
	owner  string
	single bool // one process owns the store: leases never expire

	wake    chan struct{} // one slot: "the state changed, look again"
	results chan result   // outcomes for the recorder

	mu sync.Mutex
	// lanes by endpoint id.
	lanes map[string]*lane
	// parked: handed-over deliveries waiting for an endpoint reload (unknown endpoint, or
	// routed with a newer endpoint version than the one loaded).
	parked []*item
	// spilled: deliveries that did not fit their lane; the loop gives their leases back.
	spilled []*item
	// epDirty: endpoints must be reloaded; epVersion: the version loaded.
	epDirty   bool
	epVersion int64
	// nextClaimable: when work nobody holds comes due (zero: none known); claimableStale:
	// it must be asked again (after a recovery pass or another node's commit).
	nextClaimable  time.Time
	claimableStale bool
	claimableAsked time.Time
	// claiming: a recovery claim is being written (recover); leftWhileClaiming holds the
	// deliveries that finished meanwhile (succeeded or dead). The claim may have been
	// committed before their outcome, so it can return them: they are not taken back (the
	// store holds their outcome).
	claiming          bool
	leftWhileClaiming map[string]struct{}
	// stopping: Stop began; send goroutines finish their attempt and take no next one.
	stopping bool
	rnd      *rand.Rand

	maxTimeout atomic.Int64 // the longest endpoint timeout (ns), for leases
	inflight   sync.WaitGroup

	sendCtx    context.Context
	cancelSend context.CancelFunc
	stop       context.CancelFunc
	loopDone   chan struct{}
	recDone    chan struct{}
	renewDone  chan struct{}
	collector  prometheus.Collector
	started    bool
	// sendHook, if set, runs at the start of every send; recordHook after each batch of
	// outcomes is written, before the lanes learn of it (tests force interleavings).
	sendHook   func(deliveryID string)
	recordHook func(deliveryIDs []string)
	claimHook  func() // runs before a recovery claim is written
	// recoverHook runs as a recovery pass starts, before it reads the lanes' marks.
	recoverHook func()
}

// result is one finished attempt, or a lease to give back (release).
type result struct {
	it      *item
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
	if o.MaxHeld <= 0 {
		o.MaxHeld = 10000
	}
	e := &Engine{
		o: o, owner: o.NodeID, wake: make(chan struct{}, 1), results: make(chan result, 4096),
		lanes: map[string]*lane{}, epDirty: true, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	if sn, ok := o.Store.(interface{ SingleNode() bool }); ok {
		e.single = sn.SingleNode()
	}
	e.maxTimeout.Store(int64(chat.DefaultTimeout))
	e.sendCtx, e.cancelSend = context.WithCancel(context.Background())
	return e
}

var _ chat.Dispatcher = (*Engine)(nil)

// Lease implements chat.Dispatcher: deliveries written by this node are leased to it.
func (e *Engine) Lease(now time.Time) chat.Lease {
	return chat.Lease{Owner: e.owner, Until: e.leaseUntil(now)}
}

func (e *Engine) leaseUntil(now time.Time) time.Time {
	if e.single {
		return singleNodeLease
	}
	return now.Add(time.Duration(e.maxTimeout.Load()) + e.o.LeaseMargin)
}

// Start releases a previous run's leases on a single-node store (no other process can
// hold one), loads the endpoints and starts the goroutines; every lane first recovers
// what the store holds for it.
func (e *Engine) Start(ctx context.Context) error {
	if e.single {
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
	e.loopDone, e.recDone, e.renewDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	e.started = true
	if m := e.o.Metrics; m != nil {
		e.collector = newLaneCollector(e)
		if err := m.Registry.Register(e.collector); err != nil {
			e.collector = nil
			e.o.Log.Warn("delivery: lane metrics not registered", slog.Any("error", err))
		}
	}
	go e.recorder()
	go e.loop(lctx)
	if e.single {
		close(e.renewDone)
	} else {
		go e.renewer(lctx)
	}
	e.signal()
	return nil
}

// Stop stops starting sends, lets in-flight sends finish within ctx (then cuts them),
// records their outcomes, and gives back every lease this node holds.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.started {
		return nil
	}
	e.started = false // a second Stop does nothing
	e.locked(func() { e.stopping = true })
	e.stop()
	<-e.loopDone
	<-e.renewDone
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
	if e.collector != nil {
		e.o.Metrics.Registry.Unregister(e.collector)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.o.Store.Write(wctx, func(tx chat.Tx) error { return tx.ReleaseDeliveries(e.owner, nil) })
	if err != nil {
		return fmt.Errorf("delivery: release leases: %w", err)
	}
	return nil
}

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Poke makes the engine look at its state now (after a fake clock moved, for instance).
func (e *Engine) Poke() { e.signal() }

// EndpointsChanged implements chat.DeliveryNotifier: reload the endpoints.
func (e *Engine) EndpointsChanged() {
	e.mu.Lock()
	e.epDirty = true
	e.mu.Unlock()
	e.signal()
}

// DeliveriesDue implements chat.DeliveryNotifier: the store may hold work nobody holds
// (another node released leases, or wrote deliveries without a lease); every lane claims.
func (e *Engine) DeliveriesDue() {
	e.mu.Lock()
	for _, l := range e.lanes {
		l.scan |= scanRecover
	}
	e.mu.Unlock()
	e.signal()
}

// OtherNodeWrote says another node committed work: the leases it holds may be the next
// to expire, so when work comes claimable is asked again (at most once a second).
func (e *Engine) OtherNodeWrote() { e.claimableChanged() }

// claimableChanged marks when work comes claimable as to be asked again (at most once a
// second).
func (e *Engine) claimableChanged() {
	e.mu.Lock()
	was := e.claimableStale
	e.claimableStale = true
	e.mu.Unlock()
	if !was {
		e.signal()
	}
}

// Dispatch implements chat.Dispatcher: deliveries committed leased to this node join their
// lanes at once.
func (e *Engine) Dispatch(h chat.Handover) {
	now := e.o.Clock.Now()
	byID := make(map[string]*chat.Event, len(h.Events))
	for i := range h.Events {
		byID[h.Events[i].ID] = &h.Events[i]
	}
	e.locked(func() {
		stale := h.RoutesVersion != 0 && h.RoutesVersion != e.epVersion
		for _, d := range h.Deliveries {
			it := &item{id: d.ID, endpointID: d.EndpointID, eventID: d.EventID, ev: byID[d.EventID],
				attempts: d.AttemptCount, created: d.CreatedAt, due: now}
			l := e.lanes[d.EndpointID]
			if stale || l == nil || l.deleted {
				e.parked = append(e.parked, it)
				e.epDirty = true
				continue
			}
			e.admit(l, it, now)
		}
		for _, id := range h.Ordered {
			// Written unleased: the fifo lane claims them in commit order.
			if l := e.lanes[id]; l != nil && !l.deleted {
				l.scan |= scanRecover
			}
			if stale || e.lanes[id] == nil {
				e.epDirty = true // a new lane starts with a claim
			}
		}
	})
	e.signal()
}

// locked runs f holding e.mu, and releases it even if f panics (a panic is recovered
// further up: the mutex must not stay held).
func (e *Engine) locked(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

// admit adds a delivery this node now leases to its lane (e.mu held). One already held is
// not added twice; a manual retry of one waiting for its due time moves it to now.
func (e *Engine) admit(l *lane, it *item, now time.Time) bool {
	if old, ok := l.held[it.id]; ok {
		if it.attempts > 0 {
			l.retryAt(old, now)
		}
		return false
	}
	if !l.admissible(it) {
		e.giveBack(l, it) // a fifo lane claims it again, in its place
		return false
	}
	if len(l.held) >= e.o.MaxHeld {
		e.spilled = append(e.spilled, it)
		return false
	}
	if it.due.IsZero() {
		it.due = now
	}
	l.add(it)
	return true
}

// giveBack has the loop release the lease of a delivery of lane l that l does not hold,
// and l claim again only once that is recorded (e.mu held).
func (e *Engine) giveBack(l *lane, it *item) {
	if !it.releasing {
		it.releasing = true
		l.releasing++
	}
	e.spilled = append(e.spilled, it)
}

func (e *Engine) loop(ctx context.Context) {
	defer close(e.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rescan := time.NewTicker(e.o.Rescan) // fixed period, whatever else happens
	defer rescan.Stop()
	for {
		wait := e.safeRound(ctx)
		if ctx.Err() != nil {
			return
		}
		if wait == 0 {
			select {
			case <-ctx.Done():
				return
			case <-rescan.C:
				e.markScan(scanRescan)
			default:
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		case <-rescan.C:
			e.markScan(scanRescan)
		}
	}
}

func (e *Engine) markScan(reason int) {
	e.mu.Lock()
	for _, l := range e.lanes {
		l.scan |= reason
	}
	e.mu.Unlock()
}

// safeRound runs a round; a panic in it is a bug, logged and counted, and the loop goes on
// after a second.
func (e *Engine) safeRound(ctx context.Context) (wait time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			e.panicked("dispatcher", p)
			wait = time.Second
		}
	}()
	return e.round(ctx)
}

// panicked logs and counts a recovered panic of a delivery goroutine.
func (e *Engine) panicked(where string, p any) {
	e.o.Log.Error("delivery: "+where+" panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	if m := e.o.Metrics; m != nil {
		m.DeliveryPanics.Inc()
	}
}

// start is one send to begin: the lane, the delivery and the endpoint as it is now.
type start struct {
	l  *lane
	it *item
	ep *endpoint
}

// round does one dispatch step and returns how long to wait for the next (0: at once).
func (e *Engine) round(ctx context.Context) time.Duration {
	now := e.o.Clock.Now()
	e.mu.Lock()
	reload := e.epDirty
	e.epDirty = false
	for _, l := range e.lanes {
		if !l.expiresSecret.IsZero() && !now.Before(l.expiresSecret) {
			reload = true
		}
	}
	e.mu.Unlock()
	if reload {
		if err := e.refresh(ctx); err != nil {
			e.mu.Lock()
			e.epDirty = true
			e.mu.Unlock()
			if ctx.Err() == nil {
				e.o.Log.Warn("delivery: reload endpoints", slog.Any("error", err))
			}
			return time.Second
		}
	}
	more, err := e.recover(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.o.Log.Warn("delivery: claim from the store", slog.Any("error", err))
		}
		return time.Second
	}
	if err := e.askClaimable(ctx); err != nil && ctx.Err() == nil {
		e.o.Log.Warn("delivery: next claimable", slog.Any("error", err))
	}

	now = e.o.Clock.Now()
	var starts []start
	var wakeAt time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (wakeAt.IsZero() || t.Before(wakeAt)) {
			wakeAt = t
		}
	}
	var spilled []*item
	reloadFirst := false
	e.locked(func() {
		if e.epDirty {
			// Endpoints changed since the reload above: reload before sending anything, so
			// work handed over after a change is never sent with what came before it.
			reloadFirst = true
			return
		}
		spilled = e.spilled
		e.spilled = nil
		for id, l := range e.lanes {
			if l.deleted && l.inFlight() == 0 {
				delete(e.lanes, id)
				continue
			}
			items, w := l.take(now, 0)
			earliest(w)
			for _, it := range items {
				starts = append(starts, start{l: l, it: it, ep: l.ep})
			}
		}
		if !e.nextClaimable.IsZero() {
			if !now.Before(e.nextClaimable) {
				e.nextClaimable = time.Time{}
				for _, l := range e.lanes {
					l.scan |= scanRecover
				}
				more = true
			} else {
				earliest(e.nextClaimable)
			}
		}
		if e.claimableStale {
			earliest(e.claimableAsked.Add(time.Second))
		}
		e.inflight.Add(len(starts))
	})
	if reloadFirst {
		return 0
	}
	for _, it := range spilled {
		e.results <- result{it: it, release: true}
	}
	for _, s := range starts {
		go e.send(s.l, s.it, s.ep)
	}
	if more {
		return 0
	}
	if wakeAt.IsZero() {
		return time.Hour // the re-scan ticker and signals wake the loop before
	}
	return max(wakeAt.Sub(now), time.Millisecond)
}

// refresh reloads the endpoints: lanes follow them (new, changed, gone) and parked
// deliveries join their lanes. The version is read first, so the endpoints read are at
// least that new.
func (e *Engine) refresh(ctx context.Context) error {
	v, err := e.o.Store.EndpointVersion(ctx)
	if err != nil {
		return err
	}
	eps, err := e.o.Store.ListEndpoints(ctx, "", 0)
	if err != nil {
		return err
	}
	now := e.o.Clock.Now()
	opened := make(map[string]*endpoint, len(eps))
	maxTimeout := chat.DefaultTimeout
	for _, ce := range eps {
		ep, err := openEndpoint(ce, e.o.Box, now)
		if err != nil {
			e.o.Log.Error("delivery: endpoint cannot be used", slog.String("endpoint_id", ce.ID), slog.Any("error", err))
			continue
		}
		opened[ce.ID] = ep
		maxTimeout = max(maxTimeout, ep.Timeout())
	}
	e.maxTimeout.Store(int64(maxTimeout))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.epVersion = v
	for id, l := range e.lanes {
		if _, ok := opened[id]; !ok && !l.deleted {
			l.deleted = true // its rows went with it
			l.dropAll()
		}
	}
	for id, ep := range opened {
		l, ok := e.lanes[id]
		switch {
		case !ok || l.deleted:
			l = newLane(ep)
			l.scan = scanRecover // the store may hold work for it that nobody leases
			e.lanes[id] = l
		default:
			old := l.ep.Status
			l.setEndpoint(ep)
			if old != chat.EndpointActive && ep.Status == chat.EndpointActive {
				l.scan |= scanRecover
			}
			for _, it := range l.reorder() {
				e.giveBack(l, it)
			}
			if l.fifo {
				l.scan |= scanRecover
			}
		}
	}
	parked := e.parked
	e.parked = nil
	for _, it := range parked {
		if l := e.lanes[it.endpointID]; l != nil && !l.deleted {
			e.admit(l, it, now)
		}
	}
	return nil
}

// recover claims, for every lane marked scan, what the store holds for it that no lease
// holds, up to the lane's room. more reports that a lane got all it asked for. The claim's
// time is read with the marks it serves: a mark set after that read is served by the next
// pass, and one set before it is served at a time no earlier than its cause (a lease that
// ended, then a wake-up saying so, finds the lease ended).
func (e *Engine) recover(ctx context.Context) (more bool, err error) {
	if e.recoverHook != nil {
		e.recoverHook()
	}
	var wants []scanWant
	e.mu.Lock()
	now := e.o.Clock.Now()
	for id, l := range e.lanes {
		if l.scan == 0 || l.deleted || l.ep.Status != chat.EndpointActive {
			continue // an inactive lane keeps its mark until it is active
		}
		if l.fifo {
			// Claims extend the head of the queue: only once given-back leases are recorded,
			// and in batches once the lane has drained half of what it holds.
			room := min(e.o.MaxHeld-len(l.held), fifoClaim)
			if l.releasing > 0 || len(l.held) > fifoClaim/2 || room <= 0 {
				continue
			}
			wants = append(wants, scanWant{l: l, reason: l.scan, w: chat.ClaimWant{EndpointID: id, First: room, Ordered: true}})
			l.scan = 0
			continue
		}
		room := min(e.o.MaxHeld-len(l.held), claimBatch)
		if room <= 0 || room < claimBatch && l.queued()+len(l.retries) > 0 {
			continue // keeps its mark: claims a full batch once it has drained enough
		}
		wants = append(wants, scanWant{l: l, reason: l.scan, w: chat.ClaimWant{EndpointID: id, First: room, Retry: max(1, room/2)}})
		l.scan = 0
	}
	if len(wants) > 0 {
		e.claiming = true
	}
	e.mu.Unlock()
	if len(wants) == 0 {
		return false, nil
	}
	defer e.locked(func() { e.claiming = false; clear(e.leftWhileClaiming) })
	// A lane scanned only by the periodic re-scan first asks the read pool whether a claim
	// would find anything. A claim is a write through the writers (on PostgreSQL under the
	// batch lock that every post waits for), and on a node that holds its work the answer
	// is almost always no; the question still walks the index of unfinished deliveries
	// (on PostgreSQL with every finished one not yet vacuumed), but beside the posts.
	kept := wants[:0]
	for _, w := range wants {
		if w.reason == scanRescan && !w.w.Ordered {
			if ok, err := e.o.Store.Claimable(ctx, w.w.EndpointID, now); err == nil && !ok {
				continue
			}
		}
		kept = append(kept, w)
	}
	if wants = kept; len(wants) == 0 {
		return false, nil
	}
	if e.claimHook != nil {
		e.claimHook()
	}
	cws := make([]chat.ClaimWant, len(wants))
	for i, w := range wants {
		cws[i] = w.w
	}
	var got []chat.Claimed
	c := chat.Claim{Owner: e.owner, Now: now, LeaseUntil: e.leaseUntil(now), Wants: cws}
	err = e.o.Store.Write(ctx, func(tx chat.Tx) error {
		var err error
		got, err = tx.ClaimDeliveries(c)
		return err
	})
	if err != nil {
		e.mu.Lock()
		for _, w := range wants {
			w.l.scan |= w.reason
		}
		e.mu.Unlock()
		return false, err
	}
	evs, err := e.loadEvents(ctx, got)
	if err != nil {
		e.o.Log.Warn("delivery: read claimed events; they are read again when sent", slog.Any("error", err))
	}
	counts := map[string][2]int{}
	for _, d := range got {
		n := counts[d.EndpointID]
		if d.AttemptCount == 0 {
			n[0]++
		} else {
			n[1]++
		}
		counts[d.EndpointID] = n
	}
	rescanFound := 0
	e.locked(func() {
		for _, d := range got {
			l := e.lanes[d.EndpointID]
			if l == nil || l.deleted {
				continue
			}
			if _, ok := l.held[d.ID]; ok {
				// Our own lease had lapsed and the claim renewed it: already held, and not a
				// manual retry (admit would take it for one and attempt it again).
				continue
			}
			if _, ok := e.leftWhileClaiming[d.ID]; ok {
				continue // held when the claim ran, finished since
			}
			it := &item{id: d.ID, endpointID: d.EndpointID, eventID: d.EventID, ev: evs[d.EventID],
				attempts: d.AttemptCount, created: d.CreatedAt, due: now, seq: d.Seq, ordered: orderedWant(wants, l)}
			if d.Due.After(now) {
				it.due = d.Due // an ordered claim's retry keeps its schedule
			}
			if e.admit(l, it, now) && onlyRescan(wants, l) {
				rescanFound++
			}
		}
		for _, w := range wants {
			n := counts[w.w.EndpointID]
			if w.w.Ordered && n[0]+n[1] >= w.w.First || !w.w.Ordered && (n[0] >= w.w.First || n[1] >= w.w.Retry) {
				w.l.scan |= scanRecover // a full batch: more may wait
				more = true
			}
		}
		if !more {
			e.claimableStale = true
		}
	})
	if rescanFound > 0 {
		e.o.Log.Warn("delivery: the safety re-scan found deliveries no wake-up announced", slog.Int("deliveries", rescanFound))
		if m := e.o.Metrics; m != nil {
			m.DeliveryRescanFound.Add(float64(rescanFound))
		}
	}
	return more, nil
}

// scanWant is one lane's claim in a recovery pass and why it was made.
type scanWant struct {
	l      *lane
	reason int
	w      chat.ClaimWant
}

// orderedWant reports whether lane l's claim was an ordered one.
func orderedWant(wants []scanWant, l *lane) bool {
	for _, w := range wants {
		if w.l == l {
			return w.w.Ordered
		}
	}
	return false
}

// onlyRescan reports whether lane l was scanned only because of the periodic re-scan.
func onlyRescan(wants []scanWant, l *lane) bool {
	for _, w := range wants {
		if w.l == l {
			return w.reason == scanRescan
		}
	}
	return false
}

// askClaimable asks the store when work nobody holds next comes due, when that is stale
// (at most once a second).
func (e *Engine) askClaimable(ctx context.Context) error {
	e.mu.Lock()
	now := e.o.Clock.Now() // read with the mark it serves, as in recover
	ask := e.claimableStale && now.Sub(e.claimableAsked) >= time.Second || e.claimableAsked.IsZero()
	if ask {
		e.claimableStale, e.claimableAsked = false, now
	}
	e.mu.Unlock()
	if !ask {
		return nil
	}
	at, err := e.o.Store.NextClaimable(ctx, now)
	if err != nil {
		e.mu.Lock()
		e.claimableStale = true
		e.mu.Unlock()
		return err
	}
	e.mu.Lock()
	e.nextClaimable = at
	e.mu.Unlock()
	return nil
}

// loadEvents reads the claimed deliveries' events.
func (e *Engine) loadEvents(ctx context.Context, got []chat.Claimed) (map[string]*chat.Event, error) {
	out := make(map[string]*chat.Event, len(got))
	var missing []string
	for _, d := range got {
		if _, ok := out[d.EventID]; !ok {
			out[d.EventID] = nil
			missing = append(missing, d.EventID)
		}
	}
	for len(missing) > 0 {
		n := min(len(missing), 200)
		evs, err := e.o.Store.EventsByID(ctx, missing[:n])
		if err != nil {
			return out, err
		}
		for i := range evs {
			out[evs[i].ID] = &evs[i]
		}
		missing = missing[n:]
	}
	return out, nil
}

// renewer extends the leases of the deliveries this node holds well before they expire
// (PostgreSQL). A row leased to this node that it does not hold (written by a commit whose
// outcome the node never learned, so never handed over) is not renewed: its lease ends
// and it is claimed like any other (NextClaimable counts this node's leases too).
func (e *Engine) renewer(ctx context.Context) {
	defer close(e.renewDone)
	for {
		period := max((time.Duration(e.maxTimeout.Load())+e.o.LeaseMargin)/3, 100*time.Millisecond)
		t := time.NewTimer(period)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		until := e.leaseUntil(e.o.Clock.Now())
		ids := e.heldIDs()
		err := e.o.Store.Write(ctx, func(tx chat.Tx) error {
			_, err := tx.RenewLeases(e.owner, until, ids)
			return err
		})
		if err != nil && ctx.Err() == nil {
			e.o.Log.Warn("delivery: renew leases", slog.Any("error", err))
		}
		// Once a renewal period, ask when work comes claimable: leases this node did not
		// renew (rows it does not hold) end like another node's.
		e.claimableChanged()
	}
}

// heldIDs lists the deliveries this node holds: in its lanes, or parked until the
// endpoints are reloaded.
func (e *Engine) heldIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.parked)
	for _, l := range e.lanes {
		n += len(l.held)
	}
	ids := make([]string, 0, n)
	for _, l := range e.lanes {
		for id := range l.held {
			ids = append(ids, id)
		}
	}
	for _, it := range e.parked {
		ids = append(ids, it.id)
	}
	return ids
}

// recorder writes outcomes in batches through the store's writer.
func (e *Engine) recorder() {
	defer close(e.recDone)
	batch := make([]result, 0, recordBatch)
	for {
		r, ok := <-e.results
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	drain:
		for len(batch) < recordBatch {
			select {
			case r, ok := <-e.results:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		e.safeFlush(batch)
		clear(batch)
	}
}

// safeFlush flushes; a panic in it is a bug, logged and counted (the batch's leases stay
// until they are released at the next start or expire).
func (e *Engine) safeFlush(batch []result) {
	defer func() {
		if p := recover(); p != nil {
			e.panicked("recorder", p)
		}
	}()
	e.flush(batch)
}

// flush records a batch, then updates the lanes: failed deliveries wait in their retry
// heap, finished ones leave, given-back ones are claimable again. If the batch cannot be
// recorded, its deliveries are held again and attempted again (at least once).
func (e *Engine) flush(batch []result) {
	done := make([]chat.DeliveryResult, 0, len(batch))
	var release []string
	for _, r := range batch {
		if r.release {
			release = append(release, r.it.id)
		} else {
			done = append(done, r.r)
		}
	}
	var err error
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(chat.Unwaited(context.Background()), 30*time.Second)
		err = e.o.Store.Write(ctx, func(tx chat.Tx) error {
			if len(release) > 0 {
				if err := tx.ReleaseDeliveries(e.owner, release); err != nil {
					return err
				}
			}
			return tx.CompleteDeliveries(done)
		})
		cancel()
		if err == nil || attempt == 2 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond) // back off from a failing database
	}
	now := e.o.Clock.Now()
	if err != nil && !errors.Is(err, context.Canceled) {
		e.o.Log.Error("delivery: record attempts; they are made again", slog.Int("attempts", len(done)), slog.Any("error", err))
	}
	if e.recordHook != nil {
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.it.id
		}
		e.recordHook(ids)
	}
	e.locked(func() { e.settle(batch, err, now) })
}

// settle updates the lanes after a batch was recorded (err nil) or not (e.mu held).
func (e *Engine) settle(batch []result, err error, now time.Time) {
	for _, r := range batch {
		it := r.it
		l := e.lanes[it.endpointID]
		if l == nil || l.deleted || l.held[it.id] != it && !r.release {
			continue
		}
		switch {
		case err != nil:
			if r.release && l.held[it.id] == nil {
				if it.releasing {
					e.spilled = append(e.spilled, it) // a fifo lane waits for it: try again
				}
				continue // spilled: never held; the lease is still ours in the store
			}
			it.due = now.Add(5 * time.Second)
			e.keep(l, it)
		case r.release:
			if it.releasing {
				it.releasing = false
				l.releasing = max(0, l.releasing-1)
			}
			if l.held[it.id] == it {
				l.forget(it)
				if l.fifo {
					// What waits behind it must not go first: give it all back, claim again.
					for _, w := range l.takeWaiting() {
						e.giveBack(l, w)
					}
				}
			}
			l.scan |= scanRecover
		case r.r.Status == chat.DeliveryFailed:
			it.attempts++
			it.due = r.r.NextAt
			if it.retryNow {
				it.due, it.retryNow = now, false
			}
			e.keep(l, it)
		case it.retryNow:
			// A manual retry arrived while this attempt was being recorded: go again now.
			it.attempts++
			it.due, it.retryNow = now, false
			e.keep(l, it)
		default:
			l.forget(it)
			e.finishedWhileClaiming(it.id)
		}
		if r.r.Disable {
			e.epDirty = true
		}
	}
	e.signal()
}

// finishedWhileClaiming notes a delivery whose outcome is final (e.mu held) while a
// recovery claim is being written: that claim may have been committed before the outcome
// and return it. (A given-back delivery is not noted: a claim committed after the give-back
// leased it to this node again, and it must be taken back.)
func (e *Engine) finishedWhileClaiming(id string) {
	if !e.claiming {
		return
	}
	if e.leftWhileClaiming == nil {
		e.leftWhileClaiming = map[string]struct{}{}
	}
	e.leftWhileClaiming[id] = struct{}{}
}

// keep puts a held delivery back to wait in its lane, or gives it back when the lane's
// ordering changed since it was admitted (e.mu held).
func (e *Engine) keep(l *lane, it *item) {
	if l.admissible(it) {
		l.add(it)
		return
	}
	l.forget(it)
	e.giveBack(l, it)
}

// safeURL is an endpoint URL for logs: scheme, host and path, never the query (which may
// carry a token) or user info.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// warn logs a state change of an endpoint at WARN, at most a few per endpoint per ten
// seconds.
func (e *Engine) warn(l *lane, ep *endpoint, msg string, attrs ...slog.Attr) {
	e.mu.Lock()
	ok := l.warn.Allow()
	e.mu.Unlock()
	if !ok {
		return
	}
	attrs = append(attrs, slog.String("endpoint_id", ep.ID), slog.String("url", safeURL(ep.URL)))
	e.o.Log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}
