package chat

import (
	"context"
	"slices"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// DeliveryTx holds the delivery writes. The fast path is InsertDeliveriesLeased: the
// transaction that writes an event writes its delivery rows already leased to the writing
// node, whose engine gets them in memory after commit (Dispatcher). Claims read the table
// only to recover work nobody holds (start-up, a dead node's expired leases, released or
// overflowing work).
type DeliveryTx interface {
	// EndpointRoutes returns the routing table of the endpoints that are not disabled. It
	// is on the hot path (every event): implementations cache it and drop the cache when an
	// endpoint changes. Routes.Version identifies the endpoint state it was built from.
	EndpointRoutes() (*Routes, error)
	// InsertDeliveries inserts new deliveries (status pending, due now), leased to nobody.
	InsertDeliveries(ds []Delivery) error
	// InsertDeliveriesLeased inserts new deliveries (status pending, due now) leased as l.
	InsertDeliveriesLeased(ds []Delivery, l Lease) error
	// StoredEvents returns those of ids whose events are still stored (the retention
	// prunes old ones), in no particular order.
	StoredEvents(ids []string) ([]string, error)

	InsertEndpoint(e Endpoint) error
	GetEndpoint(id string) (Endpoint, error)
	// UpdateEndpoint replaces every field but ID and CreatedAt.
	UpdateEndpoint(e Endpoint) error
	// DeleteEndpoint deletes the endpoint with its deliveries and their attempts.
	DeleteEndpoint(id string) error

	// ClaimDeliveries leases due deliveries that no live lease holds, as c asks (first
	// attempts in event order, retries by due time), and returns them.
	ClaimDeliveries(c Claim) ([]Claimed, error)
	// CompleteDeliveries records attempts and their outcomes, in a few statements per
	// batch. A delivery whose lease was lost (another owner holds it) keeps its state; the
	// attempt is still recorded. A failed result keeps its lease until LeaseUntil (the
	// owner holds the retry in memory); other outcomes end the lease.
	CompleteDeliveries(rs []DeliveryResult) error
	// ReleaseDeliveries gives back leases of owner without recording an attempt; with no
	// ids, all of owner's leases.
	ReleaseDeliveries(owner string, ids []string) error
	// RenewLeases extends owner's leases on the unfinished deliveries ids to until. Only
	// the deliveries the owner actually holds are renewed: a row leased to it that it does
	// not hold (its commit was not confirmed, so it was never handed over) then expires and
	// is claimed like any other.
	RenewLeases(owner string, until time.Time, ids []string) (int64, error)
	// ReleaseAllLeases clears every lease: only for single-node stores at start-up, when no
	// other process can hold one.
	ReleaseAllLeases() (int64, error)
	// RetryDelivery schedules a delivery for an attempt at now (manual retry): status
	// pending, due now, leased as l. A delivery whose event is no longer stored (the
	// retention pruned it) is left as it is: CodeFailedPrecond.
	RetryDelivery(id string, now time.Time, l Lease) (Delivery, error)
}

// Lease is who holds deliveries and until when. On a single-node store Until may lie far
// ahead: every lease is released when the process starts.
type Lease struct {
	Owner string
	Until time.Time
}

// DeliveryReader holds the delivery reads.
type DeliveryReader interface {
	GetEndpoint(ctx context.Context, id string) (Endpoint, error)
	// ListEndpoints returns endpoints by id after the cursor; limit <= 0: all.
	ListEndpoints(ctx context.Context, after string, limit int) ([]Endpoint, error)
	// EndpointVersion returns the current endpoint state version (see Routes.Version).
	EndpointVersion(ctx context.Context) (int64, error)
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	// GetDeliveryDetail returns a delivery with its attempts, oldest first, read as of one
	// moment: an outcome recorded meanwhile shows in both or in neither.
	GetDeliveryDetail(ctx context.Context, id string) (DeliveryDetail, error)
	// EventsByID returns the events with these ids (in no particular order).
	EventsByID(ctx context.Context, ids []string) ([]Event, error)
	// NextClaimable returns the earliest time at which an unfinished delivery of an active
	// endpoint may be claimable: a lease ends (a time already past if it ended and nobody
	// claimed it yet; the asking node's own leases count too, since a lease it stopped
	// renewing is one it does not hold), or a retry nobody holds falls due (zero: none).
	// On a single-node store a lease lasts until the process restarts (its start releases
	// them all), so there only retries count.
	NextClaimable(ctx context.Context, now time.Time) (time.Time, error)
	// Claimable reports whether a claim for the endpoint at now would find anything: a
	// delivery not yet attempted, or a retry that is due, that no lease holds.
	Claimable(ctx context.Context, endpointID string, now time.Time) (bool, error)
}

// Dispatcher is this node's delivery engine as the domain sees it. Lease is how deliveries
// written by this node are leased to it inside their transaction; Dispatch hands them over
// after the commit, with their events, so the engine never reads them back.
type Dispatcher interface {
	Lease(now time.Time) Lease
	Dispatch(h Handover)
}

// Handover is what one committed write leased to this node.
type Handover struct {
	Deliveries []Delivery
	Events     []Event // the events the deliveries carry (may hold others)
	// RoutesVersion is the endpoint version the deliveries were routed with: an engine
	// whose endpoints are older reloads them before sending.
	RoutesVersion int64
	// Ordered names the fifo endpoints the write gave deliveries to. Those are written
	// unleased, not in Deliveries: a fifo endpoint's lane claims them from the store in
	// commit order (one node at a time), so the engine is only told to look.
	Ordered []string
}

// fanOut turns a just-appended event into delivery rows for the endpoints it matches, in
// the same transaction; with a dispatcher they are leased to this node and added to h.
func (s *Service) fanOut(tx Tx, e *Event, h *Handover) error {
	r, err := tx.EndpointRoutes()
	if err != nil || r.Empty() {
		return err
	}
	eps := r.MatchEvent(e, e.RelayHops, "")
	if len(eps) == 0 {
		return nil
	}
	ds := newDeliveries(e, eps)
	if s.dispatch == nil {
		return tx.InsertDeliveries(ds)
	}
	h.RoutesVersion = r.Version
	leased := ds
	if r.anyFIFO {
		var ordered []Delivery
		leased, ordered = splitOrdered(r, ds)
		if len(ordered) > 0 {
			if err := tx.InsertDeliveries(ordered); err != nil {
				return err
			}
			for _, d := range ordered {
				if !slices.Contains(h.Ordered, d.EndpointID) {
					h.Ordered = append(h.Ordered, d.EndpointID)
				}
			}
		}
		if len(leased) == 0 {
			return nil
		}
	}
	if err := tx.InsertDeliveriesLeased(leased, s.lease()); err != nil {
		return err
	}
	h.Deliveries = append(h.Deliveries, leased...)
	return nil
}

// splitOrdered separates the deliveries to fifo endpoints from the others.
func splitOrdered(r *Routes, ds []Delivery) (leased, ordered []Delivery) {
	for _, d := range ds {
		if r.FIFO(d.EndpointID) {
			ordered = append(ordered, d)
		} else {
			leased = append(leased, d)
		}
	}
	return leased, ordered
}

func newDeliveries(e *Event, endpointIDs []string) []Delivery {
	ds := make([]Delivery, len(endpointIDs))
	for i, id := range endpointIDs {
		ds[i] = Delivery{
			ID: ids.New("dlv", e.CreatedAt), EventID: e.ID, EventType: e.Type, EndpointID: id,
			Status: DeliveryPending, CreatedAt: e.CreatedAt,
		}
	}
	return ds
}
