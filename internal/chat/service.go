package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/clock"
	"github.com/chathooks/chathooks/internal/ids"
)

// Limits on API input.
const (
	MaxIDLen       = 128
	MaxNameLen     = 256
	MaxTextBytes   = 160000 // 40,000 characters of any script (Slack's limit) in UTF-8
	DefaultPage    = 50
	MaxPage        = 200
	MaxInviteBatch = 100
	// MaxBodyBytes caps every request body the server reads, on every route: larger
	// bodies are refused (413) without being buffered.
	MaxBodyBytes = 1 << 20
)

// Renderer turns message text in a markup format into sanitized HTML and mention tokens.
type Renderer interface {
	Render(format, text string) Rendered
}

// Rendered is a renderer's output.
type Rendered struct {
	HTML     string
	Mentions []MentionToken
}

// MentionToken is a mention as written: Kind all | present | user; Ref the user id, alias or
// e-mail as written (user mentions only).
type MentionToken struct {
	Kind string
	Ref  string
}

// Publisher is told about committed events (live streams).
type Publisher interface {
	Publish(events []Event)
}

// Tokens makes the random bearer tokens of incoming webhooks (at least 256 bits, URL-safe).
type Tokens interface {
	NewToken() (string, error)
}

// randomTokens is the Tokens used when none is configured: 32 random bytes, base64url.
type randomTokens struct{}

func (randomTokens) NewToken() (string, error) {
	var b [WebhookTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Service holds the chat use cases. It is safe for concurrent use.
type Service struct {
	store    Store
	clock    clock.Clock
	render   Renderer
	pub      Publisher
	dispatch Dispatcher
	log      *slog.Logger
	nodeID   string
	tokens   Tokens
	presence *streamPresence
	hooks    *webhookAuthCache
}

// Config wires a Service.
type Config struct {
	Store     Store
	Clock     clock.Clock
	Renderer  Renderer
	Publisher Publisher // may be nil
	// Dispatcher, if set, gets the deliveries this node writes, leased to it (else they are
	// written unleased for whichever engine scans for them).
	Dispatcher Dispatcher
	Logger     *slog.Logger
	NodeID     string // identifies this process's stream-presence leases
	Tokens     Tokens // nil: 32 random bytes from crypto/rand, base64url
	// WebhookAuthTTL bounds how long a cached webhook token lookup is trusted: 0 when this
	// process is the database's only writer (the cache is then exact), > 0 when other
	// nodes may regenerate or delete webhooks, < 0 to read the database every time.
	WebhookAuthTTL time.Duration
}

// NewService returns a Service.
func NewService(c Config) *Service {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NodeID == "" {
		c.NodeID = ids.New("node", time.Now())
	}
	if c.Tokens == nil {
		c.Tokens = randomTokens{}
	}
	s := &Service{store: c.Store, clock: c.Clock, render: c.Renderer, pub: c.Publisher, dispatch: c.Dispatcher, log: c.Logger, nodeID: c.NodeID, tokens: c.Tokens}
	s.presence = &streamPresence{svc: s, open: map[string]int{}}
	if c.WebhookAuthTTL >= 0 {
		s.hooks = newWebhookAuthCache(c.WebhookAuthTTL)
	}
	return s
}

// lease is how this node leases the deliveries it writes (none without a dispatcher).
func (s *Service) lease() Lease {
	if s.dispatch == nil {
		return Lease{}
	}
	return s.dispatch.Lease(s.clock.Now())
}

// handOver gives committed deliveries leased to this node to its engine.
func (s *Service) handOver(h Handover) {
	if s.dispatch != nil && len(h.Deliveries) > 0 {
		s.dispatch.Dispatch(h)
	}
}

// Store returns the service's store (for adapters that read directly).
func (s *Service) Store() Store { return s.store }

// Now returns the service clock's time.
func (s *Service) Now() time.Time { return s.now() }

// now is the clock's time at the precision storage keeps (microseconds, UTC), so what a
// write returns equals what a later read returns.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// write runs fn in a group-committed transaction and publishes the events it appended.
func (s *Service) write(ctx context.Context, fn func(tx Tx, emit func(*Event) error) error) error {
	// The events are kept by pointer: a store may assign RoomSeq when it sends the
	// statement, after emit returned (but always before Write does).
	var emitted []*Event
	var h Handover
	err := s.store.Write(ctx, func(tx Tx) error {
		emitted, h = emitted[:0], Handover{Deliveries: h.Deliveries[:0], Ordered: h.Ordered[:0]}
		return fn(tx, func(e *Event) error {
			if e.ID == "" {
				e.ID = ids.New("evt", e.CreatedAt)
			}
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			if err := s.fanOut(tx, e, &h); err != nil {
				return err
			}
			emitted = append(emitted, e)
			return nil
		})
	})
	if err != nil {
		return err
	}
	events := make([]Event, len(emitted))
	for i, e := range emitted {
		events[i] = *e
	}
	if len(h.Deliveries) > 0 || len(h.Ordered) > 0 {
		h.Events = events
		s.dispatch.Dispatch(h)
	}
	if s.pub != nil && len(events) > 0 {
		s.pub.Publish(events)
	}
	return nil
}

func (s *Service) newEvent(typ, roomID string, payload any, agents []string) *Event {
	return s.newEventJSON(typ, roomID, mustJSON(payload), agents)
}

// newEventJSON is newEvent with the payload already encoded.
func (s *Service) newEventJSON(typ, roomID string, payload json.RawMessage, agents []string) *Event {
	now := s.now()
	return &Event{ID: ids.New("evt", now), Type: typ, RoomID: roomID, CreatedAt: now, Payload: payload, Agents: agents}
}

func validID(kind, id string) error {
	if id == "" {
		return Errorf(CodeInvalidArgument, "%s is required", kind)
	}
	if len(id) > MaxIDLen {
		return Errorf(CodeInvalidArgument, "%s is longer than %d bytes", kind, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@' || c == ':') {
			return Errorf(CodeInvalidArgument, "%s %q has a character other than letters, digits and - _ . @ :", kind, id)
		}
	}
	if strings.Trim(id, ".") == "" {
		// "." and ".." are path segments URLs resolve away: such an id could be created but
		// never addressed.
		return Errorf(CodeInvalidArgument, "%s %q is made of dots only", kind, id)
	}
	return nil
}

func validName(field, name string, required bool) error {
	if strings.TrimSpace(name) == "" {
		if required {
			return Errorf(CodeInvalidArgument, "%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(name) {
		return Errorf(CodeInvalidArgument, "%s is not valid UTF-8", field)
	}
	if len(name) > MaxNameLen {
		return Errorf(CodeInvalidArgument, "%s is longer than %d bytes", field, MaxNameLen)
	}
	return nil
}

func pageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPage
	}
	if limit > MaxPage {
		return MaxPage
	}
	return limit
}

// streamPresence counts this node's open streams per user and keeps a lease row for each
// user with at least one, so presence is shared by every node on the database.
type streamPresence struct {
	svc  *Service
	mu   sync.Mutex
	open map[string]int
}

// StreamLease is how long one refresh of an open stream keeps its user present.
const StreamLease = 90 * time.Second

func (p *streamPresence) acquire(ctx context.Context, userID string) error {
	p.mu.Lock()
	p.open[userID]++
	first := p.open[userID] == 1
	p.mu.Unlock()
	if first {
		return p.refresh(ctx, userID)
	}
	return nil
}

func (p *streamPresence) refresh(ctx context.Context, userID string) error {
	until := p.svc.now().Add(StreamLease)
	return p.svc.store.Write(ctx, func(tx Tx) error { return tx.SetStreamPresence(p.svc.nodeID, userID, until) })
}

func (p *streamPresence) release(userID string) {
	p.mu.Lock()
	p.open[userID]--
	last := p.open[userID] <= 0
	if last {
		delete(p.open, userID)
	}
	p.mu.Unlock()
	if last {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := p.svc.store.Write(ctx, func(tx Tx) error { return tx.SetStreamPresence(p.svc.nodeID, userID, time.Time{}) })
		if err != nil {
			p.svc.log.Warn("clear stream presence", slog.String("user_id", userID), slog.Any("error", err))
		}
	}
}

// IdempotencyWindow is how long idempotency keys (Idempotency-Key, Google requestId) are
// remembered.
const IdempotencyWindow = 24 * time.Hour

// PruneKeysBatch is how many idempotency keys one write of Prune deletes at most: writes
// queued behind it wait for no more than that.
const PruneKeysBatch = 1000

// Prune forgets idempotency keys older than IdempotencyWindow, PruneKeysBatch at a time
// (each batch its own write, until one comes back short or ctx ends), and expired
// stream-presence leases. It returns how many rows went.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.now()
	var n int64
	for {
		var keys, leases int64
		err := s.store.Write(ctx, func(tx Tx) error {
			var err error
			keys, leases, err = tx.Prune(now.Add(-IdempotencyWindow), now, PruneKeysBatch)
			return err
		})
		if err != nil {
			return n, err
		}
		n += keys + leases
		if keys < PruneKeysBatch {
			return n, nil
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}
