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

// send makes one attempt and hands its outcome to the recorder.
func (e *Engine) send(l *lane, d chat.Claimed, ev *chat.Event, haveEvent bool) {
	defer e.inflight.Done()
	ep := l.ep
	start := e.o.Clock.Now()
	res := chat.DeliveryResult{ID: d.ID, EndpointID: d.EndpointID, Owner: e.owner}
	res.Attempt.At = start
	var status int
	var header http.Header
	var sendErr error
	if !haveEvent {
		sendErr = errors.New("the event is no longer stored")
	} else {
		status, header, res.Attempt.ResponseExcerpt, sendErr = e.post(ep, ev, start)
	}
	if sendErr != nil && e.sendCtx.Err() != nil {
		// Cut by shutdown: not an attempt; give the lease back.
		e.mu.Lock()
		l.done(d.AttemptCount > 0, true, start)
		e.mu.Unlock()
		e.results <- result{r: res, release: true}
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
		e.mu.Lock()
		next, dead := ep.policy.next(d.AttemptCount+1, d.CreatedAt, end, retryAfter(status, header, end), e.rnd)
		e.mu.Unlock()
		if dead {
			res.Status, outcome = chat.DeliveryDead, "dead"
		} else {
			res.Status, res.NextAt, outcome = chat.DeliveryFailed, next, "failed"
		}
	}
	if m := e.o.Metrics; m != nil {
		m.Deliveries.WithLabelValues(outcome).Inc()
		m.DeliveryLatency.Observe(lat.Seconds())
	}
	e.mu.Lock()
	l.done(d.AttemptCount > 0, ok, end)
	e.mu.Unlock()
	e.results <- result{r: res}
	e.signal()
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
	resp, err := e.o.Client.Do(hr)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	buf := make([]byte, ExcerptBytes)
	n, _ := io.ReadFull(resp.Body, buf)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	return resp.StatusCode, resp.Header, excerpt(buf[:n]), nil
}

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
