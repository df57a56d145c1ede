package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/egress"
)

// ExcerptBytes is how much of a response is recorded with the attempt.
const ExcerptBytes = 1024

// drainBytes is how much of a response body is read past the excerpt so the connection
// can be reused.
const drainBytes = 64 << 10

// send is a send goroutine: it makes an attempt of it to ep and, while its lane has more
// to send at once, goes on with the next (taken in the same critical section that
// accounts for the attempt), so a busy lane keeps its slots full without a new goroutine
// or a dispatcher round a delivery. When the lane has nothing for it, the dispatcher loop
// is signalled and the goroutine ends.
func (e *Engine) send(l *lane, it *item, ep *endpoint) {
	defer e.inflight.Done()
	for it != nil {
		it, ep = e.attempt(l, it, ep)
	}
}

// attempt makes one attempt of it to ep, hands its outcome to the recorder and returns
// the lane's next delivery to send at once, if any. A panic is a bug: it is recovered,
// logged and counted, and the lease is given back (the delivery is claimed again), so the
// process lives on.
func (e *Engine) attempt(l *lane, it *item, ep *endpoint) (next *item, nextEp *endpoint) {
	handed := false
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		e.panicked("send of "+it.id+" to endpoint "+ep.ID, p)
		if handed {
			return
		}
		e.locked(func() { l.release(it); it.where = inRecording })
		e.results <- result{it: it, release: true}
		e.signal()
	}()
	if e.sendHook != nil {
		e.sendHook(it.id)
	}
	start := e.o.Clock.Now()
	res := chat.DeliveryResult{ID: it.id, EndpointID: it.endpointID, Owner: e.owner}
	res.Attempt.At = start
	var status int
	var header http.Header
	var sendErr error
	ev, err := e.event(it)
	switch {
	case err != nil:
		sendErr = err
	case ev == nil:
		sendErr = errors.New("the event is no longer stored")
	default:
		status, header, res.Attempt.ResponseExcerpt, sendErr = e.post(ep, ev, start)
	}
	if sendErr != nil && (e.sendCtx.Err() != nil || err != nil) {
		// Cut by shutdown, or the event could not be read: not an attempt; give the lease back.
		e.locked(func() { l.release(it); it.where = inRecording })
		handed = true
		e.results <- result{it: it, release: true}
		e.signal()
		return
	}
	end := e.o.Clock.Now()
	lat := end.Sub(start)
	res.Attempt.LatencyMS = lat.Milliseconds()
	res.Attempt.StatusCode = status
	ok := sendErr == nil && accepted(ep.Format, status, res.Attempt.ResponseExcerpt)
	outcome := "succeeded"
	switch {
	case ok:
		res.Status = chat.DeliverySucceeded
	case status == http.StatusGone:
		res.Status, res.Disable = chat.DeliveryDead, true
		res.Attempt.Error = "410 Gone: the endpoint is disabled"
		outcome = "gone"
	default:
		if sendErr != nil {
			res.Attempt.Error = attemptError(sendErr)
		} else {
			res.Attempt.Error = statusError(ep.Format, status)
			if status >= 300 && status < 400 {
				res.Attempt.Error = "redirects are not followed: " + http.StatusText(status)
			}
		}
		var next time.Time
		var dead bool
		e.locked(func() {
			next, dead = ep.policy.next(it.attempts+1, it.created, end, retryAfter(status, header, end), e.rnd)
		})
		if dead {
			res.Status, outcome = chat.DeliveryDead, "dead"
		} else {
			res.Status, res.NextAt, res.LeaseUntil, outcome = chat.DeliveryFailed, next, e.leaseUntil(end), "failed"
		}
	}
	var change string
	var held time.Duration // the slot's time: taken (in take, under e.mu) to this attempt's end
	e.locked(func() {
		held = end.Sub(it.taken)
		change = l.finished(it, ok, end)
		next, nextEp = e.continueWith(l, end)
	})
	if m := e.o.Metrics; m != nil {
		m.Deliveries.WithLabelValues(ep.ID, outcome).Inc()
		m.DeliveryLatency.Observe(lat.Seconds())
		m.DeliverySlotSeconds.WithLabelValues(ep.ID).Add(max(held, lat, 0).Seconds()) // a counter: never less than 0, whatever the clock did
	}
	handed = true
	e.results <- result{it: it, r: res}
	if next == nil {
		e.signal()
	}
	e.logChange(l, ep, it, res, change)
	e.report(it, ev, res, change)
	return next, nextEp
}

// continueWith takes lane l's next delivery to send at once for a send goroutine that
// just finished an attempt (e.mu held): none once the engine stops or while endpoints wait
// to be reloaded (the loop reloads before anything is sent), else what take allows. The
// slot goes from one attempt to the next, so the loop has nothing to do for it.
func (e *Engine) continueWith(l *lane, now time.Time) (*item, *endpoint) {
	if e.stopping || e.epDirty {
		return nil, nil
	}
	items, _ := l.take(now, 1)
	if len(items) == 0 {
		return nil, nil
	}
	return items[0], l.ep
}

// report tells Options.OnChange of an endpoint health change.
func (e *Engine) report(it *item, ev *chat.Event, res chat.DeliveryResult, change string) {
	if e.o.OnChange == nil {
		return
	}
	c := chat.EndpointChange{EndpointID: it.endpointID, At: res.Attempt.At, StatusCode: res.Attempt.StatusCode, Error: res.Attempt.Error}
	switch change {
	case "opened":
		c.Kind = chat.ChangeFailing
		e.o.OnChange(c)
	case "closed", "recovered", "first":
		c.Kind = chat.ChangeOK
		e.o.OnChange(c)
	}
	switch {
	case res.Disable:
		c.Kind = chat.ChangeGone
		e.o.OnChange(c)
	case res.Status == chat.DeliveryDead:
		c.Kind, c.Event = chat.ChangeDead, ev
		c.Delivery = chat.DeliveryRef{ID: it.id, EventID: it.eventID, AttemptCount: it.attempts + 1}
		if ev != nil {
			c.Delivery.EventType = ev.Type
		}
		e.o.OnChange(c)
	}
}

// logChange logs an endpoint's state changes at WARN (rate-limited per endpoint).
func (e *Engine) logChange(l *lane, ep *endpoint, it *item, res chat.DeliveryResult, change string) {
	code := slog.Int("status_code", res.Attempt.StatusCode)
	switch change {
	case "failing":
		e.warn(l, ep, "endpoint started failing", code, slog.String("error", res.Attempt.Error))
	case "opened":
		e.warn(l, ep, "endpoint circuit breaker opened", code, slog.String("error", res.Attempt.Error))
	case "closed":
		e.warn(l, ep, "endpoint circuit breaker closed")
	case "recovered":
		e.warn(l, ep, "endpoint recovered")
	}
	switch {
	case res.Disable:
		e.warn(l, ep, "endpoint answered 410 Gone and is disabled")
	case res.Status == chat.DeliveryDead:
		e.warn(l, ep, "delivery is dead: its retries are spent", slog.String("delivery_id", it.id), code,
			slog.String("error", res.Attempt.Error))
	}
}

// event returns the delivery's event, read from the store when it was not handed over.
func (e *Engine) event(it *item) (*chat.Event, error) {
	if it.ev != nil {
		return it.ev, nil
	}
	ctx, cancel := context.WithTimeout(e.sendCtx, 10*time.Second)
	defer cancel()
	evs, err := e.o.Store.EventsByID(ctx, []string{it.eventID})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return &evs[0], nil
}

// post sends the request and returns the status, headers and the start of the body.
func (e *Engine) post(ep *endpoint, ev *chat.Event, now time.Time) (int, http.Header, string, error) {
	ctx, cancel := context.WithTimeout(e.sendCtx, ep.Timeout())
	defer cancel()
	var members []chat.Member
	if ep.Format == chat.FormatSendbird && ep.IncludeMembers && ev.RoomID != "" {
		ms, err := e.o.Store.ListMembers(ctx, ev.RoomID, "", chat.MaxPage, now)
		if err != nil && !chat.IsCode(err, chat.CodeNotFound) {
			return 0, nil, "", err
		}
		members = ms
	}
	req, err := build(ep, ev, members, e.o.AppID, now)
	if err != nil {
		e.o.Log.Error("delivery: render event", slog.String("event_id", ev.ID), slog.Any("error", err))
		return 0, nil, "", err
	}
	target := ep.URL
	if req.url != "" {
		target = req.url
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(req.body))
	if err != nil {
		return 0, nil, "", err
	}
	hr.Header = req.header
	resp, err := e.roundTrip(hr)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	buf := excerptBufs.Get().(*[ExcerptBytes]byte)
	defer excerptBufs.Put(buf)
	n, _ := io.ReadFull(resp.Body, buf[:])
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	return resp.StatusCode, resp.Header, excerpt(buf[:n]), nil
}

// roundTrip sends hr on the engine's transport (no http.Client: Client.Do would copy the
// headers of every request for redirects, which are never followed here). Errors are
// wrapped as Client.Do wraps them.
func (e *Engine) roundTrip(hr *http.Request) (*http.Response, error) {
	resp, err := e.o.Transport.RoundTrip(hr)
	if err != nil {
		return nil, &url.Error{Op: "Post", URL: hr.URL.String(), Err: err}
	}
	return resp, nil
}

// excerptBufs holds the buffers responses are read into (excerpt copies what it keeps).
var excerptBufs = sync.Pool{New: func() any { return new([ExcerptBytes]byte) }}

// excerpt makes the recorded response text valid UTF-8.
func excerpt(b []byte) string {
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(b)
}

// attemptError describes a transport error without internals (and never a secret).
func attemptError(err error) string {
	switch {
	case errors.Is(err, egress.ErrForbiddenAddress):
		msg := err.Error()
		if i := strings.Index(msg, egress.ErrForbiddenAddress.Error()); i >= 0 {
			msg = msg[i:]
		}
		return msg
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout: no response within the endpoint's timeout"
	}
	// Without the URL: a chat target's URL is its secret.
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
