package delivery

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/signing"
)

// endpoint is an endpoint ready to send: its secrets opened, its policy computed.
type endpoint struct {
	chat.Endpoint
	secrets []string    // live secrets in clear, newest first
	keys    [][]byte    // standard format: decoded keys of secrets
	header  http.Header // the headers every request carries (not chat targets); read-only
	policy  policy
}

// requestHeader is a new header for one request: the endpoint's own headers and room for
// extra more. The value slices are shared, clipped so that adding to one copies it.
func (ep *endpoint) requestHeader(extra int) http.Header {
	h := make(http.Header, len(ep.header)+extra)
	for k, v := range ep.header {
		h[k] = slices.Clip(v)
	}
	return h
}

// baseHeader is what every request of a signed format carries besides its signature: the
// endpoint's configured headers, then the content type and user agent of the format, which
// take precedence over configured ones.
func baseHeader(e chat.Endpoint) http.Header {
	h := make(http.Header, len(e.Headers)+2)
	for k, v := range e.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if e.Format == chat.FormatSendbird {
		h.Set("User-Agent", "SendBird")
	} else {
		h.Set("User-Agent", "chathooks")
	}
	return h
}

func openEndpoint(e chat.Endpoint, box chat.SecretBox, now time.Time) (*endpoint, error) {
	ep := &endpoint{Endpoint: e, policy: policyFor(e)}
	if !chat.IsChatTarget(e.Format) {
		ep.header = baseHeader(e)
	}
	cur, err := box.Open(e.SecretSealed)
	if err != nil {
		return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
	}
	ep.secrets = []string{cur}
	if e.OldSealed != "" && e.OldExpiresAt.After(now) {
		old, err := box.Open(e.OldSealed)
		if err != nil {
			return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
		}
		ep.secrets = append(ep.secrets, old)
	}
	if e.Format == chat.FormatStandard {
		for _, s := range ep.secrets {
			k, err := signing.DecodeStandardSecret(s)
			if err != nil {
				return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
			}
			ep.keys = append(ep.keys, k)
		}
	}
	return ep, nil
}

// Breaker settings.
const (
	BreakerThreshold   = 5                // consecutive failures that open the breaker
	BreakerCooldown    = 10 * time.Second // first open period; doubles while probes fail
	BreakerMaxCooldown = 5 * time.Minute
)

// Where a held delivery is.
const (
	inQueue     = iota // waiting in the lane's FIFO of first attempts
	inRetries          // waiting in the lane's retry heap
	inFlight           // being sent
	inRecording        // sent; its outcome is being written
)

// item is a delivery this node holds the lease of.
type item struct {
	id, endpointID, eventID string
	ev                      *chat.Event // nil: read it from the store before sending
	attempts                int         // attempts made before this one
	created                 time.Time
	due                     time.Time // retries: when the next attempt is due
	where                   int       // inQueue, inRetries, inFlight or inRecording
	taken                   time.Time // inFlight: when it took its lane's slot
	index                   int       // position in the retry heap
	retryNow                bool      // a manual retry arrived while it was being recorded
	// fifo lanes: seq is the delivery's commit order; ordered says it came from an ordered
	// claim (only those may join a fifo lane); inOrdered that it is in lane.ordered;
	// releasing that its lease is being given back and its lane waits for that.
	seq                           int64
	ordered, inOrdered, releasing bool
}

// retryHeap orders retries by due time.
type retryHeap []*item

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *retryHeap) Push(x any)        { it := x.(*item); it.index = len(*h); *h = append(*h, it) }
func (h *retryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

// Scan reasons: why a lane must claim from the store.
const (
	scanRecover = 1 << iota // known reason: start-up, overflow, released or expired leases
	scanRescan              // only the periodic safety re-scan
)

// lane is one endpoint's in-process state. Every field is guarded by Engine.mu.
// Invariant: held indexes exactly the deliveries of queue, retries, and those in flight
// or being recorded; each is leased to this node in the store.
type lane struct {
	ep      *endpoint
	queue   []*item // first attempts in commit order; queue[head:] are waiting
	head    int
	retries retryHeap
	held    map[string]*item
	inFirst int // first attempts in flight
	inRetry int // retries in flight
	// scan is set (scanRecover, scanRescan) when the store may hold work for this lane
	// that nobody leases; the dispatcher clears it when it starts the claim, never after.
	scan    int
	deleted bool // the endpoint is gone: drop the lane once nothing is in flight
	// circuit breaker
	fails     int
	openUntil time.Time
	cooldown  time.Duration
	limiter   *rate.Limiter
	// expiresSecret is when the previous secret stops signing (the lane must be reopened).
	expiresSecret time.Time
	// warn limits the WARN log lines about this endpoint's state changes.
	warn *rate.Limiter
	// failing: the last attempt failed (to log when an endpoint starts or stops failing).
	failing bool
	// succeeded: an attempt of this lane succeeded (its first success is reported).
	succeeded bool
	// fifo: the endpoint sends one delivery at a time in commit order. Then queue and
	// retries stay empty and ordered holds every held delivery by seq, those in flight or
	// being recorded included: ordered[0] is the head, and nothing behind it is sent until
	// it succeeds or dies. Invariant: ordered is the start of the endpoint's unfinished
	// deliveries in commit order, so the lane claims only when releasing is 0 (a lease
	// being given back could otherwise let a later claim skip ahead of it).
	fifo      bool
	ordered   []*item
	releasing int
}

func newLane(ep *endpoint) *lane {
	l := &lane{held: map[string]*item{}, warn: rate.NewLimiter(rate.Every(10*time.Second), 3)}
	l.setEndpoint(ep)
	return l
}

func (l *lane) setEndpoint(ep *endpoint) {
	old := l.ep
	l.ep = ep
	if old == nil {
		l.fifo = ep.FIFO()
	}
	if ep.RateLimit > 0 {
		if l.limiter == nil || old == nil || old.RateLimit != ep.RateLimit {
			l.limiter = rate.NewLimiter(rate.Limit(ep.RateLimit), max(1, int(math.Ceil(ep.RateLimit))))
		}
	} else {
		l.limiter = nil
	}
	l.expiresSecret = time.Time{}
	if len(ep.secrets) > 1 {
		l.expiresSecret = ep.OldExpiresAt
	}
}

func (l *lane) inFlight() int { return l.inFirst + l.inRetry }

// queued counts the deliveries waiting for a first attempt (fifo lanes: every waiting one).
func (l *lane) queued() int {
	n := len(l.queue) - l.head
	for _, it := range l.ordered {
		if it.where == inQueue {
			n++
		}
	}
	return n
}

// add puts a newly held delivery in the FIFO (first attempts) or the retry heap; in a fifo
// lane, in its place in ordered (or it waits there again after an attempt).
func (l *lane) add(it *item) {
	l.held[it.id] = it
	if l.fifo {
		it.where = inQueue
		if !it.inOrdered {
			i, _ := slices.BinarySearchFunc(l.ordered, it.seq, func(x *item, seq int64) int { return cmp.Compare(x.seq, seq) })
			l.ordered = slices.Insert(l.ordered, i, it)
			it.inOrdered = true
		}
		return
	}
	if it.attempts == 0 {
		it.where = inQueue
		l.queue = append(l.queue, it)
		return
	}
	it.where = inRetries
	heap.Push(&l.retries, it)
}

// retryAt moves a held retry to due time at (a manual retry: now).
func (l *lane) retryAt(it *item, at time.Time) {
	switch it.where {
	case inQueue:
		if it.inOrdered {
			it.due = at
		}
	case inRetries:
		it.due = at
		heap.Fix(&l.retries, it.index)
	case inRecording:
		it.retryNow = true
	}
}

// popFirst takes the oldest waiting first attempt.
func (l *lane) popFirst() *item {
	it := l.queue[l.head]
	l.queue[l.head] = nil
	l.head++
	if l.head == len(l.queue) {
		l.queue, l.head = l.queue[:0], 0
	} else if l.head > 1024 && l.head > len(l.queue)/2 {
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
	return it
}

// dropAll forgets every waiting delivery (the endpoint is gone with its rows).
func (l *lane) dropAll() {
	for id, it := range l.held {
		if it.where == inQueue || it.where == inRetries {
			delete(l.held, id)
		}
	}
	l.queue, l.head, l.retries = nil, 0, nil
	l.ordered = slices.DeleteFunc(l.ordered, func(it *item) bool { return l.held[it.id] != it })
}

// forget drops a delivery the lane no longer holds.
func (l *lane) forget(it *item) {
	delete(l.held, it.id)
	if it.inOrdered {
		it.inOrdered = false
		if i := slices.Index(l.ordered, it); i >= 0 {
			l.ordered = slices.Delete(l.ordered, i, i+1)
		}
	}
}

// takeWaiting removes and returns every waiting delivery of the lane (not those in flight
// or being recorded).
func (l *lane) takeWaiting() []*item {
	var out []*item
	for _, it := range l.held {
		if it.where == inQueue || it.where == inRetries {
			out = append(out, it)
		}
	}
	for _, it := range out {
		l.forget(it)
	}
	l.queue, l.head, l.retries = nil, 0, nil
	return out
}

// reorder switches the lane to its endpoint's ordering. A lane becoming fifo returns its
// waiting deliveries, to be given back and claimed again in commit order; a lane leaving
// fifo keeps them in its queues. Deliveries in flight stay: when one fails, settle puts it
// where the new ordering wants it.
func (l *lane) reorder() (giveBack []*item) {
	if l.fifo == l.ep.FIFO() {
		return nil
	}
	waiting := l.takeWaiting()
	for _, it := range l.ordered {
		it.inOrdered = false
	}
	l.ordered = nil
	l.fifo = l.ep.FIFO()
	if l.fifo {
		return waiting
	}
	for _, it := range waiting {
		l.add(it)
	}
	return nil
}

// admissible reports whether a delivery may wait in the lane: a fifo lane takes only what
// it claimed in order.
func (l *lane) admissible(it *item) bool { return !l.fifo || it.ordered }

// retryQuota is the most retries in flight at once: at most half the slots (at least one),
// so first attempts always keep the other half.
func (l *lane) retryQuota() int { return max(1, l.ep.InFlight()/2) }

// take pops the deliveries to send now (breaker, in-flight bound, rate limit, retry quota
// permitting; at most most of them, if most > 0) and returns them with when the lane next
// needs a look (zero: only when something changes).
func (l *lane) take(now time.Time, most int) (out []*item, wakeAt time.Time) {
	earliest := func(t time.Time) {
		if !t.IsZero() && (wakeAt.IsZero() || t.Before(wakeAt)) {
			wakeAt = t
		}
	}
	earliest(l.expiresSecret)
	if l.ep.Status != chat.EndpointActive || l.deleted {
		return nil, wakeAt
	}
	if l.fifo {
		return l.takeHead(now, earliest), wakeAt
	}
	retryDue := len(l.retries) > 0 && !l.retries[0].due.After(now)
	if len(l.retries) > 0 && !retryDue {
		earliest(l.retries[0].due)
	}
	if l.queued() == 0 && !retryDue {
		return nil, wakeAt
	}
	limit := l.ep.InFlight()
	if !l.openUntil.IsZero() {
		if now.Before(l.openUntil) {
			earliest(l.openUntil)
			return nil, wakeAt
		}
		limit = 1 // half-open: one probe at a time
	}
	free := limit - l.inFlight()
	if most > 0 {
		free = min(free, most)
	}
	if free <= 0 {
		return nil, wakeAt
	}
	if l.limiter != nil {
		tokens := int(l.limiter.TokensAt(now))
		if tokens <= 0 {
			earliest(now.Add(time.Duration(float64(time.Second) / float64(l.limiter.Limit()))))
			return nil, wakeAt
		}
		free = min(free, tokens)
	}
	retries := 0
	if retryDue {
		retries = max(0, min(l.retryQuota()-l.inRetry, free))
		if l.queued() > 0 {
			retries = min(retries, (free+1)/2)
		}
	}
	for retries > 0 && len(l.retries) > 0 && !l.retries[0].due.After(now) {
		it := heap.Pop(&l.retries).(*item)
		it.where, it.taken = inFlight, now
		l.inRetry++
		out = append(out, it)
		retries--
		free--
	}
	if len(l.retries) > 0 && l.retries[0].due.After(now) {
		earliest(l.retries[0].due) // due ones left over wait for a slot: a finish wakes the loop
	}
	for free > 0 && l.queued() > 0 {
		it := l.popFirst()
		it.where, it.taken = inFlight, now
		l.inFirst++
		out = append(out, it)
		free--
	}
	if l.limiter != nil && len(out) > 0 {
		l.limiter.AllowN(now, len(out))
	}
	return out, wakeAt
}

// takeHead is take for a fifo lane: the head, when it is due and nothing is in flight or
// being recorded (the head's outcome decides what goes next).
func (l *lane) takeHead(now time.Time, earliest func(time.Time)) []*item {
	if len(l.ordered) == 0 || l.inFlight() > 0 {
		return nil
	}
	head := l.ordered[0]
	if head.where != inQueue {
		return nil // its outcome is being recorded: the settle wakes the loop
	}
	if head.due.After(now) {
		earliest(head.due)
		return nil
	}
	if !l.openUntil.IsZero() && now.Before(l.openUntil) {
		earliest(l.openUntil)
		return nil
	}
	if l.limiter != nil && l.limiter.TokensAt(now) < 1 {
		earliest(now.Add(time.Duration(float64(time.Second) / float64(l.limiter.Limit()))))
		return nil
	}
	head.where, head.taken = inFlight, now
	if head.attempts > 0 {
		l.inRetry++
	} else {
		l.inFirst++
	}
	if l.limiter != nil {
		l.limiter.AllowN(now, 1)
	}
	return []*item{head}
}

// finished accounts for an attempt that ended (ok or not) and drives the breaker. It
// returns what changed for the log: "opened", "closed", "failing", "recovered", "first"
// (the lane's first success) or "".
func (l *lane) finished(it *item, ok bool, now time.Time) string {
	l.release(it)
	it.where = inRecording
	wasOpen := !l.openUntil.IsZero()
	wasFailing := l.failing
	l.failing = !ok
	if ok {
		first := !l.succeeded
		l.succeeded = true
		l.fails, l.openUntil, l.cooldown = 0, time.Time{}, 0
		switch {
		case wasOpen:
			return "closed"
		case wasFailing:
			return "recovered"
		case first:
			return "first"
		}
		return ""
	}
	l.fails++
	if wasOpen || l.fails >= BreakerThreshold {
		// Open, or a half-open probe failed: (re)open with a longer cool-down.
		if l.cooldown == 0 {
			l.cooldown = BreakerCooldown
		} else if wasOpen && !now.Before(l.openUntil) {
			l.cooldown = min(2*l.cooldown, BreakerMaxCooldown)
		}
		l.openUntil = now.Add(l.cooldown)
		if !wasOpen {
			return "opened"
		}
		return ""
	}
	if !wasFailing {
		return "failing"
	}
	return ""
}

// release frees an in-flight slot without judging the endpoint (the attempt was cut or
// never made).
func (l *lane) release(it *item) {
	if it.attempts > 0 {
		l.inRetry--
	} else {
		l.inFirst--
	}
}

// breakerState is 0 closed, 1 half-open (a probe may go), 2 open.
func (l *lane) breakerState(now time.Time) int {
	switch {
	case l.openUntil.IsZero():
		return 0
	case now.Before(l.openUntil):
		return 2
	}
	return 1
}

// oldest is when the oldest waiting delivery of the lane was created (zero: none).
func (l *lane) oldest() time.Time {
	var t time.Time
	if len(l.queue) > l.head {
		t = l.queue[l.head].created
	}
	for _, it := range l.ordered {
		if it.where == inQueue && (t.IsZero() || it.created.Before(t)) {
			t = it.created
		}
	}
	for _, it := range l.retries {
		if t.IsZero() || it.created.Before(t) {
			t = it.created
		}
	}
	return t
}
