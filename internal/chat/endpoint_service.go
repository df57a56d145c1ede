package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// SecretBox seals endpoint secrets for storage and opens them to sign. Secrets must be
// recoverable to sign with, so they are encrypted, not hashed.
type SecretBox interface {
	Seal(plain string) (string, error)
	Open(sealed string) (string, error)
}

// EndpointVerifier runs RBM's verification handshake against an endpoint: POST
// {"clientToken", "secret"} and expect 200 with exactly the secret as body.
type EndpointVerifier interface {
	Verify(ctx context.Context, e Endpoint, clientToken string) error
}

// DeliveryNotifier is told when endpoints change or deliveries become due outside the
// event flow (verification, manual retry, replay), so the delivery engine acts at once.
type DeliveryNotifier interface {
	EndpointsChanged()
	DeliveriesDue()
}

// Deliveries holds the outgoing-webhook use cases: endpoints and deliveries.
type Deliveries struct {
	svc     *Service
	box     SecretBox
	verify  EndpointVerifier
	notify  DeliveryNotifier
	urls    EndpointURLs
	secrets EndpointSecrets
	relay   Relay
	alerts  *Alerter
}

// DeliveriesConfig wires an Deliveries.
type DeliveriesConfig struct {
	Box      SecretBox
	Verifier EndpointVerifier
	Notifier DeliveryNotifier // may be nil
	URLs     EndpointURLs
	Secrets  EndpointSecrets
	Relay    Relay // chat-target templates and previews; nil: refused
	// Alerts, if set, announces endpoints disabled by hand (endpoint:disabled and the
	// alerts room).
	Alerts *Alerter
}

// NewDeliveries returns the outgoing-webhook use cases over svc's store and clock.
func NewDeliveries(svc *Service, c DeliveriesConfig) *Deliveries {
	return &Deliveries{svc: svc, box: c.Box, verify: c.Verifier, notify: c.Notifier, urls: c.URLs, secrets: c.Secrets, relay: c.Relay, alerts: c.Alerts}
}

// EndpointView is an endpoint as the API shows it, with its secret in clear (a chat
// target's secret is its URL, shown redacted, and it has no other).
type EndpointView struct {
	ID                string            `json:"id"`
	URL               string            `json:"url" doc:"chat formats: redacted (the URL carries the target's secret)"`
	Description       string            `json:"description"`
	AgentID           string            `json:"agent_id,omitempty"`
	EventTypes        []string          `json:"event_types"`
	Format            string            `json:"format" enum:"standard,sendbird,rbm,slack,mattermost,google_chat,chime"`
	Secret            string            `json:"secret,omitempty" doc:"absent for the chat formats"`
	PreviousExpiresAt *time.Time        `json:"previous_secret_expires_at,omitempty" doc:"during a rotation overlap, when the previous secret stops signing"`
	IncludeMembers    bool              `json:"include_members"`
	Headers           map[string]string `json:"headers"`
	TimeoutMS         int               `json:"timeout_ms"`
	MaxInFlight       int               `json:"max_in_flight"`
	RateLimit         float64           `json:"rate_limit_per_second,omitempty"`
	Retry             RetryPolicy       `json:"retry"`
	RoomIDs           []string          `json:"room_ids" doc:"only events of these rooms; empty: every room"`
	Template          string            `json:"template,omitempty" doc:"chat formats: Go text/template rendering the body"`
	MaxHops           int               `json:"max_hops,omitempty" doc:"chat formats: messages that crossed this many chathooks relays are not relayed again"`
	Ordering          string            `json:"ordering" enum:"concurrent,fifo" doc:"concurrent: up to max_in_flight at once; fifo: one at a time in commit order, a failing delivery blocks those behind it"`
	Status            string            `json:"status" enum:"active,unverified,disabled"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// EndpointInput creates an endpoint.
type EndpointInput struct {
	ID             string // optional
	URL            string
	Description    string
	AgentID        string
	EventTypes     []string
	Format         string
	Secret         string
	IncludeMembers bool
	Headers        map[string]string
	TimeoutMS      int
	MaxInFlight    int
	RateLimit      float64
	Retry          RetryPolicy
	RoomIDs        []string
	Template       string
	MaxHops        int
	Ordering       string // "" : concurrent
}

// EndpointPatch changes an endpoint; nil fields stay.
type EndpointPatch struct {
	URL            *string
	Description    *string
	AgentID        *string
	EventTypes     []string // nil: unchanged
	IncludeMembers *bool
	Headers        map[string]string // nil: unchanged
	TimeoutMS      *int
	MaxInFlight    *int
	RateLimit      *float64
	Retry          *RetryPolicy
	Status         *string  // active | disabled
	RoomIDs        []string // nil: unchanged; empty: every room
	Template       *string
	MaxHops        *int
	Ordering       *string
}

func (o *Deliveries) view(e Endpoint) (EndpointView, error) {
	sec := ""
	if !IsChatTarget(e.Format) {
		var err error
		if sec, err = o.box.Open(e.SecretSealed); err != nil {
			return EndpointView{}, fmt.Errorf("chat: open endpoint secret: %w", err)
		}
	}
	v := EndpointView{
		ID: e.ID, URL: e.URL, Description: e.Description, AgentID: e.AgentID, EventTypes: e.EventTypes,
		Format: e.Format, Secret: sec, IncludeMembers: e.IncludeMembers, Headers: e.Headers,
		TimeoutMS: int(e.Timeout().Milliseconds()), MaxInFlight: e.InFlight(), RateLimit: e.RateLimit,
		Retry: e.Retry, Status: e.Status, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		RoomIDs: e.RoomIDs, Template: e.Template, Ordering: e.Ordering,
	}
	if v.Ordering == "" {
		v.Ordering = OrderingConcurrent
	}
	if v.RoomIDs == nil {
		v.RoomIDs = []string{}
	}
	if IsChatTarget(e.Format) {
		v.MaxHops = e.HopLimit()
	}
	if e.OldSealed != "" && e.OldExpiresAt.After(o.svc.now()) {
		t := e.OldExpiresAt
		v.PreviousExpiresAt = &t
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	return v, nil
}

func (o *Deliveries) changed() {
	if o.notify != nil {
		o.notify.EndpointsChanged()
	}
}

func (o *Deliveries) due() {
	if o.notify != nil {
		o.notify.DeliveriesDue()
	}
}

// checkAgent verifies that agentID names a user of kind agent.
func checkAgent(tx Tx, agentID string) error {
	if agentID == "" {
		return nil
	}
	u, err := tx.GetUser(agentID)
	if err != nil {
		if IsCode(err, CodeNotFound) {
			return Errorf(CodeInvalidArgument, "agent_id: user %q not found", agentID)
		}
		return err
	}
	if u.Kind != KindAgent {
		return Errorf(CodeInvalidArgument, "agent_id: user %q is not of kind agent", agentID)
	}
	return nil
}

// CreateEndpoint creates an endpoint. An rbm endpoint starts unverified and is verified at
// once; if the handshake fails it stays unverified (its events wait) and the answer says so.
func (o *Deliveries) CreateEndpoint(ctx context.Context, in EndpointInput) (EndpointView, error) {
	if in.Format == "" {
		in.Format = FormatStandard
	}
	now := o.svc.now()
	e := Endpoint{
		ID: in.ID, URL: strings.TrimSpace(in.URL), Description: in.Description, AgentID: in.AgentID,
		EventTypes: in.EventTypes, Format: in.Format, IncludeMembers: in.IncludeMembers, Headers: in.Headers,
		TimeoutMS: in.TimeoutMS, MaxInFlight: in.MaxInFlight, RateLimit: in.RateLimit, Retry: in.Retry,
		RoomIDs: slices.Clone(in.RoomIDs), Template: in.Template, MaxHops: in.MaxHops, Ordering: in.Ordering,
		Status: EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if e.ID == "" {
		e.ID = ids.New("ep", now)
	} else if err := validID("id", e.ID); err != nil {
		return EndpointView{}, err
	}
	if e.Format == FormatRBM {
		e.Status = EndpointUnverified
	}
	secret := in.Secret
	switch {
	case IsChatTarget(e.Format):
		// A chat target's URL is its secret: sealed, and shown redacted from now on.
		if secret != "" {
			return EndpointView{}, Errorf(CodeInvalidArgument, "secret: a chat target has none (its URL carries the target's secret)")
		}
		secret, e.URL = e.URL, RedactURL(e.URL)
		chatTargetDefaults(&e)
	case secret == "":
		var err error
		if secret, err = o.newSecret(e.Format); err != nil {
			return EndpointView{}, err
		}
	}
	if err := o.validate(e, secret, true); err != nil {
		return EndpointView{}, err
	}
	sealed, err := o.box.Seal(secret)
	if err != nil {
		return EndpointView{}, fmt.Errorf("chat: seal endpoint secret: %w", err)
	}
	e.SecretSealed = sealed
	err = o.svc.store.Write(ctx, func(tx Tx) error {
		if err := checkAgent(tx, e.AgentID); err != nil {
			return err
		}
		if err := checkRooms(tx, e.RoomIDs); err != nil {
			return err
		}
		return tx.InsertEndpoint(e)
	})
	if err != nil {
		return EndpointView{}, err
	}
	o.changed()
	if e.Format == FormatRBM {
		if v, err := o.VerifyEndpoint(ctx, e.ID); err == nil {
			return v, nil
		}
	}
	return o.view(e)
}

// GetEndpoint returns an endpoint.
func (o *Deliveries) GetEndpoint(ctx context.Context, id string) (EndpointView, error) {
	e, err := o.svc.store.GetEndpoint(ctx, id)
	if err != nil {
		return EndpointView{}, err
	}
	return o.view(e)
}

// ListEndpoints lists endpoints by id.
func (o *Deliveries) ListEndpoints(ctx context.Context, after string, limit int) ([]EndpointView, error) {
	es, err := o.svc.store.ListEndpoints(ctx, after, pageLimit(limit))
	if err != nil {
		return nil, err
	}
	out := make([]EndpointView, 0, len(es))
	for _, e := range es {
		v, err := o.view(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// UpdateEndpoint applies a patch. Enabling an rbm endpoint makes it unverified until it
// passes the handshake again.
func (o *Deliveries) UpdateEndpoint(ctx context.Context, id string, p EndpointPatch) (EndpointView, error) {
	var e Endpoint
	err := o.svc.write(ctx, func(tx Tx, emit func(*Event) error) error {
		var err error
		if e, err = tx.GetEndpoint(id); err != nil {
			return err
		}
		oldURL, oldStatus := e.URL, e.Status
		applyPatch(&e, p)
		if p.Status != nil {
			switch *p.Status {
			case EndpointDisabled:
				e.Status = EndpointDisabled
			case EndpointActive:
				if e.Format == FormatRBM && e.Status != EndpointActive {
					e.Status = EndpointUnverified
				} else {
					e.Status = EndpointActive
				}
			default:
				return Errorf(CodeInvalidArgument, "status can be set to active or disabled, not %q", *p.Status)
			}
		}
		sec, err := o.box.Open(e.SecretSealed)
		if err != nil {
			return fmt.Errorf("chat: open endpoint secret: %w", err)
		}
		if IsChatTarget(e.Format) && p.URL != nil {
			sec = strings.TrimSpace(*p.URL)
			if e.SecretSealed, err = o.box.Seal(sec); err != nil {
				return fmt.Errorf("chat: seal endpoint url: %w", err)
			}
			e.URL = RedactURL(sec)
		}
		if err := o.validate(e, sec, e.URL != oldURL || (IsChatTarget(e.Format) && p.URL != nil)); err != nil {
			return err
		}
		if p.AgentID != nil {
			if err := checkAgent(tx, e.AgentID); err != nil {
				return err
			}
		}
		if p.RoomIDs != nil {
			if err := checkRooms(tx, e.RoomIDs); err != nil {
				return err
			}
		}
		e.UpdatedAt = o.svc.now()
		if err := tx.UpdateEndpoint(e); err != nil {
			return err
		}
		return o.statusChanged(tx, emit, e, oldStatus)
	})
	if err != nil {
		return EndpointView{}, err
	}
	o.changed()
	return o.view(e)
}

// statusChanged announces an endpoint disabled by hand; one enabled again starts healthy,
// so that its next failure or 410 is announced.
func (o *Deliveries) statusChanged(tx Tx, emit func(*Event) error, e Endpoint, old string) error {
	switch {
	case e.Status == old:
		return nil
	case e.Status == EndpointDisabled:
		if o.alerts == nil {
			return nil
		}
		_, err := o.svc.announce(tx, emit, announcement{kind: EventEndpointDisabled, endpointID: e.ID,
			state: HealthDisabled, reason: ReasonManual}, o.alerts.base())
		return err
	case old == EndpointDisabled:
		return tx.SetEndpointHealth(e.ID, HealthOK, o.svc.now())
	}
	return nil
}

func applyPatch(e *Endpoint, p EndpointPatch) {
	if p.URL != nil {
		e.URL = strings.TrimSpace(*p.URL)
	}
	if p.Description != nil {
		e.Description = *p.Description
	}
	if p.AgentID != nil {
		e.AgentID = *p.AgentID
	}
	if p.EventTypes != nil {
		e.EventTypes = slices.Clone(p.EventTypes)
	}
	if p.IncludeMembers != nil {
		e.IncludeMembers = *p.IncludeMembers
	}
	if p.Headers != nil {
		e.Headers = maps.Clone(p.Headers)
	}
	if p.TimeoutMS != nil {
		e.TimeoutMS = *p.TimeoutMS
	}
	if p.MaxInFlight != nil {
		e.MaxInFlight = *p.MaxInFlight
	}
	if p.RateLimit != nil {
		e.RateLimit = *p.RateLimit
	}
	if p.Retry != nil {
		e.Retry = *p.Retry
	}
	if p.RoomIDs != nil {
		e.RoomIDs = slices.Clone(p.RoomIDs)
	}
	if p.Template != nil {
		e.Template = *p.Template
	}
	if p.MaxHops != nil {
		e.MaxHops = *p.MaxHops
	}
	if p.Ordering != nil {
		e.Ordering = *p.Ordering
	}
}

// DeleteEndpoint deletes an endpoint with its deliveries.
func (o *Deliveries) DeleteEndpoint(ctx context.Context, id string) error {
	if err := o.svc.store.Write(ctx, func(tx Tx) error { return tx.DeleteEndpoint(id) }); err != nil {
		return err
	}
	o.changed()
	return nil
}

// VerifyEndpoint runs the RBM handshake: the endpoint becomes active when it answers 200
// with the secret, unverified otherwise (its events wait). Other formats need no
// verification and are returned as they are.
func (o *Deliveries) VerifyEndpoint(ctx context.Context, id string) (EndpointView, error) {
	e, err := o.svc.store.GetEndpoint(ctx, id)
	if err != nil {
		return EndpointView{}, err
	}
	if e.Format != FormatRBM {
		return o.view(e)
	}
	if e.Status == EndpointDisabled {
		return EndpointView{}, Errorf(CodeFailedPrecond, "endpoint %q is disabled: enable it (PATCH status active) before verifying", id)
	}
	token, err := o.box.Open(e.SecretSealed)
	if err != nil {
		return EndpointView{}, fmt.Errorf("chat: open endpoint secret: %w", err)
	}
	vctx, cancel := context.WithTimeout(ctx, e.Timeout())
	verr := o.verify.Verify(vctx, e, token)
	cancel()
	status := EndpointActive
	if verr != nil {
		status = EndpointUnverified
	}
	err = o.svc.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.GetEndpoint(id)
		if err != nil {
			return err
		}
		if cur.Status == EndpointDisabled || cur.Status == status {
			e = cur
			return nil
		}
		cur.Status, cur.UpdatedAt = status, o.svc.now()
		e = cur
		return tx.UpdateEndpoint(cur)
	})
	if err != nil {
		return EndpointView{}, err
	}
	o.changed()
	if verr != nil {
		return EndpointView{}, &Error{Code: CodeFailedPrecond, Message: "endpoint verification failed: " + ErrorMessage(verr), Err: verr}
	}
	o.due()
	return o.view(e)
}

// RotateSecret replaces the endpoint's secret; the previous one keeps signing (alongside)
// for overlap (default DefaultRotateOverlap; 0 ends it at once). secret "" generates one.
func (o *Deliveries) RotateSecret(ctx context.Context, id, secret string, overlap *time.Duration) (EndpointView, error) {
	ov := DefaultRotateOverlap
	if overlap != nil {
		ov = *overlap
	}
	if ov < 0 || ov > MaxRotateOverlap {
		return EndpointView{}, Errorf(CodeInvalidArgument, "expire_old_after_s must be between 0 and %d", int(MaxRotateOverlap.Seconds()))
	}
	var e Endpoint
	err := o.svc.store.Write(ctx, func(tx Tx) error {
		var err error
		if e, err = tx.GetEndpoint(id); err != nil {
			return err
		}
		if IsChatTarget(e.Format) {
			return Errorf(CodeFailedPrecond, "a chat target has no secret to rotate: PATCH its url to change the target's")
		}
		sec := secret
		if sec == "" {
			if sec, err = o.newSecret(e.Format); err != nil {
				return err
			}
		}
		if err := o.validSecret(e.Format, sec); err != nil {
			return err
		}
		sealed, err := o.box.Seal(sec)
		if err != nil {
			return fmt.Errorf("chat: seal endpoint secret: %w", err)
		}
		now := o.svc.now()
		e.OldSealed, e.OldExpiresAt = "", time.Time{}
		if ov > 0 {
			e.OldSealed, e.OldExpiresAt = e.SecretSealed, now.Add(ov)
		}
		e.SecretSealed, e.UpdatedAt = sealed, now
		return tx.UpdateEndpoint(e)
	})
	if err != nil {
		return EndpointView{}, err
	}
	o.changed()
	return o.view(e)
}

// storedHops is the relay hop count of a stored message event (stored events do not keep
// Event.RelayHops; the payload's message carries it).
func storedHops(e *Event) int {
	if e.RelayHops > 0 || (e.Type != EventMessageSend && e.Type != EventMessageUpdate) {
		return e.RelayHops
	}
	var p struct {
		Message struct {
			RelayHops int `json:"relay_hops"`
		} `json:"message"`
	}
	if json.Unmarshal(e.Payload, &p) != nil {
		return 0
	}
	return p.Message.RelayHops
}

// ReplayBatch is how many events replay reads per step.
const ReplayBatch = 500

// storedOnly is the deliveries of ds whose events are among stored (order kept).
func storedOnly(ds []Delivery, stored []string) []Delivery {
	have := make(map[string]bool, len(stored))
	for _, id := range stored {
		have[id] = true
	}
	kept := make([]Delivery, 0, len(stored))
	for _, d := range ds {
		if have[d.EventID] {
			kept = append(kept, d)
		}
	}
	return kept
}

// ReplayMargin is how far before its since time a replay starts reading events.
const ReplayMargin = time.Hour

// Replay creates fresh deliveries (same event ids) to the endpoint for every event since
// the given time that it matches now (filter and precedence). It returns how many.
func (o *Deliveries) Replay(ctx context.Context, id string, since time.Time) (int, error) {
	ep, err := o.svc.store.GetEndpoint(ctx, id)
	if err != nil {
		return 0, err
	}
	if ep.Status == EndpointDisabled {
		return 0, Errorf(CodeFailedPrecond, "endpoint %q is disabled", id)
	}
	all, err := o.svc.store.ListEndpoints(ctx, "", 0)
	if err != nil {
		return 0, err
	}
	routes := NewRoutes(all)
	now := o.svc.now()
	total := 0
	// Start near since instead of at the first event: what lies before is read only for
	// the margin (times of events written by other nodes, or around a clock step, may be
	// a little out of order).
	after, err := o.svc.store.EventPosBefore(ctx, since.Add(-ReplayMargin))
	if err != nil {
		return 0, err
	}
	for {
		evs, last, err := o.svc.store.Events(ctx, after, ReplayBatch)
		if err != nil {
			return total, err
		}
		var ds []Delivery
		for i := range evs {
			e := &evs[i]
			if e.CreatedAt.Before(since) || IsTestEvent(e.ID) || len(routes.MatchEvent(e, storedHops(e), id)) == 0 {
				continue
			}
			d := newDeliveries(e, []string{id})[0]
			d.ID, d.CreatedAt = ids.New("dlv", now), now
			ds = append(ds, d)
		}
		if len(ds) > 0 {
			var version int64
			var kept []Delivery
			err := o.svc.store.Write(ctx, func(tx Tx) error {
				r, err := tx.EndpointRoutes()
				if err != nil {
					return err
				}
				version = r.Version
				// Only events still stored: the retention may have pruned some since they
				// were read (checked in the write, which no prune can interleave with).
				ids := make([]string, len(ds))
				for i, d := range ds {
					ids[i] = d.EventID
				}
				stored, err := tx.StoredEvents(ids)
				if err != nil {
					return err
				}
				kept = storedOnly(ds, stored)
				if len(kept) == 0 {
					return nil
				}
				if o.svc.dispatch == nil {
					return tx.InsertDeliveries(kept)
				}
				return tx.InsertDeliveriesLeased(kept, o.svc.lease())
			})
			if err != nil {
				return total, err
			}
			if len(kept) > 0 {
				o.svc.handOver(Handover{Deliveries: kept, Events: evs, RoutesVersion: version})
			}
			total += len(kept)
		}
		if len(evs) < ReplayBatch {
			break
		}
		after = last
	}
	if total > 0 && o.svc.dispatch == nil {
		o.due()
	}
	return total, nil
}
