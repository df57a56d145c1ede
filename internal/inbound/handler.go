// Package inbound serves the incoming-webhook dialects (Amazon Chime, Google
// Chat, Slack, Mattermost). Each dialect has a pure parser (Parse*) turning a request body
// into what to post, and a replier mapping every outcome to the dialect's exact success and
// error shapes; one pipeline (authenticate, read the body through a hard cap, parse, rate
// limit, post) is shared by all four.
package inbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/clock"
)

// MaxIdempotencyKey bounds the Idempotency-Key header.
const MaxIdempotencyKey = 256

// postTimeout bounds how long a post may wait for the database before answering 503.
const postTimeout = 10 * time.Second

// Config wires a Handler.
type Config struct {
	Service *chat.Service
	Limiter Limiter // nil: unlimited
	// Clock times each request's arrival for the limiter (nil: the wall clock).
	Clock  clock.Clock
	Logger *slog.Logger
	// ShuttingDown reports that the server is stopping: posts then answer 503.
	ShuttingDown func() bool
}

// Handler serves the four dialect endpoints.
type Handler struct {
	svc      *chat.Service
	limiter  Limiter
	clock    clock.Clock
	log      *slog.Logger
	shutting func() bool
}

// New returns a Handler.
func New(c Config) *Handler {
	if c.Limiter == nil {
		c.Limiter = Unlimited{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ShuttingDown == nil {
		c.ShuttingDown = func() bool { return false }
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return &Handler{svc: c.Service, limiter: c.Limiter, clock: c.Clock, log: c.Logger, shutting: c.ShuttingDown}
}

// replier writes one dialect's answers.
type replier interface {
	ok(w http.ResponseWriter, m chat.Message)
	fail(w http.ResponseWriter, e *Error)
}

// request is one incoming post going through the pipeline.
type request struct {
	dialect string
	w       http.ResponseWriter
	r       *http.Request
	reply   replier
	// auth finds the webhook; parse turns the body into the message to post.
	auth  func(ctx context.Context) (chat.Webhook, error)
	parse func(body []byte, wh chat.Webhook) (chat.PostMessage, error)
	// split, if set, cuts the text into the texts of several posts (Mattermost).
	split func(text string) []string
}

// serve runs the shared pipeline. The token never reaches a log: only the webhook id.
func (h *Handler) serve(q request) {
	arrived := h.clock.Now() // the request's place in its room's rate budget
	whID := ""
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("incoming webhook handler panicked", slog.String("dialect", q.dialect), slog.String("webhook_id", whID), slog.Any("panic", p))
			q.reply.fail(q.w, &Error{Kind: KindInternal, Message: "internal error"})
		}
	}()
	fail := func(err error) {
		e := classify(err)
		if e.Kind == KindInternal || e.Kind == KindUnavailable {
			h.log.Warn("incoming webhook post failed", slog.String("dialect", q.dialect), slog.String("webhook_id", whID), slog.Any("error", err))
		}
		if e.Kind == KindRateLimited {
			q.w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
		}
		q.reply.fail(q.w, e)
	}
	if h.shutting() {
		fail(errorf(KindUnavailable, "the server is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), postTimeout)
	defer cancel()
	wh, err := q.auth(ctx)
	if err != nil {
		fail(err)
		return
	}
	whID = wh.ID
	body, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, chat.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(errorf(KindTooLarge, "the request body is larger than %d bytes", chat.MaxBodyBytes))
			return
		}
		fail(errorf(KindInvalid, "the request body could not be read"))
		return
	}
	pm, err := q.parse(body, wh)
	if err != nil {
		fail(err)
		return
	}
	key := q.r.Header.Get("Idempotency-Key")
	if len(key) > MaxIdempotencyKey {
		fail(errorf(KindInvalid, "Idempotency-Key is longer than %d bytes", MaxIdempotencyKey))
		return
	}
	if pm.IdempotencyKey == "" && key != "" {
		pm.IdempotencyKey = "key:" + key
	}
	pm.IdempotencyScope = "webhook:" + wh.ID
	pm.RelayHops = relayHops(q.r.Header)
	pm.RoomID, pm.Sender = wh.RoomID, wh.Sender()
	if ok, wait := h.limiter.Allow(wh.RoomID, arrived); !ok {
		fail(&Error{Kind: KindRateLimited, Message: "too many messages to this room; at most the room's rate is accepted", RetryAfter: wait})
		return
	}
	if h.shutting() {
		fail(errorf(KindUnavailable, "the server is shutting down"))
		return
	}
	if q.split == nil {
		res, err := h.svc.PostMessage(ctx, pm)
		if err != nil {
			fail(err)
			return
		}
		q.reply.ok(q.w, res.Message)
		return
	}
	// Several posts, in order; a repeat with the same key repeats none of them.
	var first chat.Message
	for i, text := range q.split(pm.Text) {
		part := pm
		part.Text = text
		if i > 0 && part.IdempotencyKey != "" {
			part.IdempotencyKey += "#" + strconv.Itoa(i)
		}
		res, err := h.svc.PostMessage(ctx, part)
		if err != nil {
			fail(err)
			return
		}
		if i == 0 {
			first = res.Message
		}
	}
	q.reply.ok(q.w, first)
}
