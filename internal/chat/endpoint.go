package chat

import (
	"slices"
	"time"
)

// Endpoint formats.
const (
	FormatStandard = "standard"
	FormatSendbird = "sendbird"
	FormatRBM      = "rbm"
)

// Chat targets: endpoint formats that post each message into another chat tool's incoming
// webhook (or another chathooks server's webhook of that dialect). Their URL carries the
// target's secret, so it is kept sealed; no signature is sent.
const (
	TargetSlack      = "slack"
	TargetMattermost = "mattermost"
	TargetGoogleChat = "google_chat"
	TargetChime      = "chime"
)

// IsChatTarget reports whether format posts to a chat tool.
func IsChatTarget(format string) bool {
	switch format {
	case TargetSlack, TargetMattermost, TargetGoogleChat, TargetChime:
		return true
	}
	return false
}

// Relay bounds.
const (
	// MaxRelayHops bounds max_hops: how many chathooks relays a message may have crossed
	// and still be relayed again.
	MaxRelayHops = 3
	// MaxRoomScope bounds room_ids.
	MaxRoomScope = 100
	// MaxTemplateBytes bounds a body template.
	MaxTemplateBytes = 16 << 10
	// ChatTargetRate is the default pace (messages per second) of targets that allow one
	// message per second per room (Chime, Google Chat).
	ChatTargetRate = 1.0
)

// Endpoint orderings: how an endpoint's deliveries are sent.
const (
	// OrderingConcurrent (the default) sends up to max_in_flight deliveries at once; a
	// failed one is retried later, possibly after the ones behind it.
	OrderingConcurrent = "concurrent"
	// OrderingFIFO sends one delivery at a time in commit order: a failing delivery is
	// retried, on its schedule, before anything after it is sent.
	OrderingFIFO = "fifo"
)

// Endpoint statuses.
const (
	EndpointActive     = "active"
	EndpointUnverified = "unverified"
	EndpointDisabled   = "disabled"
)

// Endpoint defaults and bounds.
const (
	DefaultMaxInFlight   = 16
	MaxMaxInFlight       = 1024
	DefaultTimeout       = 5 * time.Second
	MaxTimeout           = 60 * time.Second
	DefaultRotateOverlap = 24 * time.Hour
	MaxRotateOverlap     = 7 * 24 * time.Hour
	MaxEndpointHeaders   = 32
)

// RetryPolicy overrides a format's default retry schedule; zero fields keep the default.
type RetryPolicy struct {
	MaxAttempts  int `json:"max_attempts,omitempty"`
	MaxIntervalS int `json:"max_interval_s,omitempty"`
	TTLS         int `json:"ttl_s,omitempty"`
}

// Endpoint is an outgoing webhook subscriber. Secrets are held sealed (encrypted with the
// server's key): the store never sees them in clear.
type Endpoint struct {
	ID             string
	URL            string
	Description    string
	AgentID        string // "" = workspace-level
	EventTypes     []string
	Format         string
	SecretSealed   string
	OldSealed      string    // the previous secret during a rotation overlap, "" if none
	OldExpiresAt   time.Time // when OldSealed stops signing
	IncludeMembers bool
	Headers        map[string]string
	TimeoutMS      int
	MaxInFlight    int
	RateLimit      float64 // requests per second, 0 = unlimited
	Retry          RetryPolicy
	// RoomIDs limits the endpoint to events of these rooms (empty: every room; events
	// without a room are then not delivered).
	RoomIDs []string
	// Template renders a chat target's body from the event (Go text/template); "" is the
	// default message.
	Template string
	// MaxHops (chat targets): a message that already crossed this many chathooks relays is
	// not relayed again (0 means 1: relayed messages stop here).
	MaxHops int
	// Ordering is OrderingConcurrent ("" means it) or OrderingFIFO.
	Ordering  string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Timeout is the endpoint's per-attempt timeout.
func (e Endpoint) Timeout() time.Duration {
	if e.TimeoutMS <= 0 {
		return DefaultTimeout
	}
	return time.Duration(e.TimeoutMS) * time.Millisecond
}

// FIFO reports whether the endpoint's deliveries are sent one at a time in commit order.
func (e Endpoint) FIFO() bool { return e.Ordering == OrderingFIFO }

// InFlight is the endpoint's bound on concurrent requests (fifo: one).
func (e Endpoint) InFlight() int {
	if e.FIFO() {
		return 1
	}
	if e.MaxInFlight <= 0 {
		return DefaultMaxInFlight
	}
	return e.MaxInFlight
}

// Wants reports whether the endpoint's filter selects the event type ("*" selects every
// chat event; operational events only by name).
func (e Endpoint) Wants(typ string) bool {
	return slices.Contains(e.EventTypes, "*") && !IsOperational(typ) || slices.Contains(e.EventTypes, typ)
}

// Routes is the routing table of the endpoints that receive deliveries (every endpoint
// not disabled): what fanOut matches each event against. It is immutable once built, so a
// store may cache it and share it between transactions.
type Routes struct {
	// Version is the endpoint state the table was built from (set by the store; it changes
	// with every endpoint write on any node).
	Version   int64
	workspace []route
	agents    map[string][]route // agent id -> its agent-level endpoints
	byID      map[string]route
	anyFIFO   bool // some endpoint is fifo
}

type route struct {
	id      string
	all     bool
	types   []string
	status  string
	rooms   []string // empty: every room
	maxHops int      // chat targets: relay messages that crossed fewer relays; 0: any
	fifo    bool     // deliveries are written unleased and claimed in commit order
}

// NewRoutes builds the routing table of eps (disabled endpoints are skipped).
func NewRoutes(eps []Endpoint) *Routes {
	r := &Routes{agents: map[string][]route{}, byID: map[string]route{}}
	for _, e := range eps {
		if e.Status == EndpointDisabled {
			continue
		}
		rt := route{id: e.ID, all: slices.Contains(e.EventTypes, "*"), types: e.EventTypes, status: e.Status, rooms: e.RoomIDs, fifo: e.FIFO()}
		if IsChatTarget(e.Format) {
			rt.maxHops = e.HopLimit()
		}
		r.byID[e.ID] = rt
		r.anyFIFO = r.anyFIFO || rt.fifo
		if e.AgentID == "" {
			r.workspace = append(r.workspace, rt)
		} else {
			r.agents[e.AgentID] = append(r.agents[e.AgentID], rt)
		}
	}
	return r
}

// Empty reports whether no endpoint can receive anything.
func (r *Routes) Empty() bool { return r == nil || (len(r.workspace) == 0 && len(r.agents) == 0) }

func (rt route) wants(typ string) bool {
	return rt.all && !IsOperational(typ) || slices.Contains(rt.types, typ)
}

// takes reports whether the route's room scope and hop limit let the event through.
func (rt route) takes(roomID string, hops int) bool {
	if len(rt.rooms) > 0 && !slices.Contains(rt.rooms, roomID) {
		return false
	}
	return rt.maxHops == 0 || hops < rt.maxHops
}

// HopLimit is the effective max_hops of a chat target.
func (e Endpoint) HopLimit() int {
	if e.MaxHops <= 0 {
		return 1
	}
	return min(e.MaxHops, MaxRelayHops)
}

// MatchEvent is Match for an event, also applying each endpoint's room scope and, for
// chat targets, its hop limit (hops: how many relays the event's message crossed). An
// announcement about an endpoint (e.AboutEndpoint) never goes to that endpoint.
func (r *Routes) MatchEvent(e *Event, hops int, only string) []string {
	ids := r.Match(e.Type, e.Agents, only)
	if len(ids) == 0 {
		return ids
	}
	out := ids[:0]
	for _, id := range ids {
		if id == e.AboutEndpoint {
			continue
		}
		if rt, ok := r.find(id); !ok || rt.takes(e.RoomID, hops) {
			out = append(out, id)
		}
	}
	return out
}

// FIFO reports whether the endpoint id sends its deliveries one at a time in commit order.
func (r *Routes) FIFO(id string) bool {
	rt, ok := r.find(id)
	return ok && rt.fifo
}

func (r *Routes) find(id string) (route, bool) {
	rt, ok := r.byID[id]
	return rt, ok
}

// Match returns the ids of the endpoints an event of type typ concerning agents goes to:
// the matching agent-level endpoints of each agent, and the matching
// workspace-level endpoints unless the event concerns at least one agent and every agent it
// concerns has agent-level endpoints of its own (whatever their filters: an agent-level
// endpoint replaces the workspace-level ones for its agent, as RBM's agent webhooks do).
// If only is not "", only that endpoint is considered (replay).
func (r *Routes) Match(typ string, agents []string, only string) []string {
	if r.Empty() {
		return nil
	}
	var out []string
	covered := 0
	for _, a := range agents {
		rts, ok := r.agents[a]
		if !ok {
			continue
		}
		covered++
		for _, rt := range rts {
			if (only == "" || rt.id == only) && rt.wants(typ) && !slices.Contains(out, rt.id) {
				out = append(out, rt.id)
			}
		}
	}
	if len(agents) > 0 && covered == len(agents) {
		return out
	}
	for _, rt := range r.workspace {
		if (only == "" || rt.id == only) && rt.wants(typ) {
			out = append(out, rt.id)
		}
	}
	return out
}

// Delivery statuses. pending: not attempted yet (or held while its endpoint is unverified);
// failed: the last attempt failed and a retry is scheduled; dead: the retry budget is spent.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
	DeliveryDead      = "dead"
)

// Delivery is one event to one endpoint.
type Delivery struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	EndpointID    string     `json:"endpoint_id"`
	Status        string     `json:"status" enum:"pending,succeeded,failed,dead"`
	AttemptCount  int        `json:"attempt_count"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	At              time.Time `json:"at"`
	StatusCode      int       `json:"status_code,omitempty"`
	LatencyMS       int64     `json:"latency_ms"`
	Error           string    `json:"error,omitempty"`
	ResponseExcerpt string    `json:"response_excerpt,omitempty"`
}

// DeliveryQuery selects deliveries of an endpoint, newest first.
type DeliveryQuery struct {
	EndpointID string
	Status     string // "" = any
	Before     string // delivery id (exclusive), for paging
	Limit      int
}

// ClaimWant asks for up to First never-attempted and up to Retry due retried deliveries of
// one endpoint: two quotas, so first attempts never wait behind retries.
//
// Ordered (a fifo endpoint) asks instead for up to First of the endpoint's unfinished
// deliveries (pending or failed, due or not) that no live lease holds, in commit order,
// and only when no other owner holds a live lease on any of them: one node at a time
// sends a fifo endpoint's deliveries, and what it claims is always the head of the queue.
type ClaimWant struct {
	EndpointID string
	First      int
	Retry      int
	Ordered    bool
}

// Claim is a batch claim: the deliveries returned are leased to Owner until LeaseUntil.
// A lease that expires makes the delivery claimable again (how a killed node's work comes
// back). On PostgreSQL this is a SELECT ... FOR UPDATE SKIP LOCKED per endpoint.
type Claim struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Wants      []ClaimWant
}

// Claimed is a leased delivery, in event order within its endpoint.
type Claimed struct {
	Seq          int64
	ID           string
	EndpointID   string
	EventID      string
	AttemptCount int
	CreatedAt    time.Time
	// Due is when the delivery's next attempt is due (ordered claims only; zero otherwise).
	Due time.Time
}

// DeliveryResult is the outcome of one attempt, recorded by CompleteDeliveries.
type DeliveryResult struct {
	ID         string
	EndpointID string
	Owner      string
	Attempt    Attempt
	Status     string    // succeeded | failed | dead
	NextAt     time.Time // when failed
	LeaseUntil time.Time // when failed: the owner keeps the lease until then
	Disable    bool      // 410 Gone: disable the endpoint
}
