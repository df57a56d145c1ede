package chat

import (
	"context"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// DeliveryTx holds the outgoing-delivery writes (issue 4). Claims and completions run
// through Write like every change, so on SQLite the one writer does them, grouped with
// other writes; on PostgreSQL they are FOR UPDATE SKIP LOCKED leases.
type DeliveryTx interface {
	// EndpointRoutes returns the routing table of the endpoints that are not disabled. It
	// is on the hot path (every event): implementations cache it and drop the cache when an
	// endpoint changes.
	EndpointRoutes() (*Routes, error)
	// InsertDeliveries inserts new deliveries (status pending, due now).
	InsertDeliveries(ds []Delivery) error

	InsertEndpoint(e Endpoint) error
	GetEndpoint(id string) (Endpoint, error)
	// UpdateEndpoint replaces every field but ID and CreatedAt.
	UpdateEndpoint(e Endpoint) error
	// DeleteEndpoint deletes the endpoint with its deliveries and their attempts.
	DeleteEndpoint(id string) error

	// ClaimDeliveries leases due deliveries as c asks (first attempts in event order,
	// retries by due time) and returns them.
	ClaimDeliveries(c Claim) ([]Claimed, error)
	// CompleteDeliveries records attempts and their outcomes. A delivery whose lease was
	// lost (another owner holds it) keeps its state; the attempt is still recorded.
	CompleteDeliveries(rs []DeliveryResult) error
	// ReleaseDeliveries gives back leases of owner without recording an attempt; with no
	// ids, all of owner's leases.
	ReleaseDeliveries(owner string, ids []string) error
	// ReleaseAllLeases clears every lease: only for single-node stores at start-up, when no
	// other process can hold one.
	ReleaseAllLeases() (int64, error)
	// RetryDelivery schedules a delivery for an attempt at now (manual retry).
	RetryDelivery(id string, now time.Time) (Delivery, error)
}

// DeliveryReader holds the outgoing-delivery reads (issue 4).
type DeliveryReader interface {
	GetEndpoint(ctx context.Context, id string) (Endpoint, error)
	// ListEndpoints returns endpoints by id after the cursor; limit <= 0: all.
	ListEndpoints(ctx context.Context, after string, limit int) ([]Endpoint, error)
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	DeliveryAttempts(ctx context.Context, deliveryID string) ([]Attempt, error)
	// EventsByID returns the events with these ids (in no particular order).
	EventsByID(ctx context.Context, ids []string) ([]Event, error)
	// RetryDueTimes returns, per endpoint, the earliest due time of its failed deliveries.
	RetryDueTimes(ctx context.Context) (map[string]time.Time, error)
}

// fanOut turns a just-appended event into delivery rows for the endpoints it matches, in
// the same transaction.
func (s *Service) fanOut(tx Tx, e *Event) error {
	r, err := tx.EndpointRoutes()
	if err != nil || r.Empty() {
		return err
	}
	eps := r.MatchEvent(e, e.RelayHops, "")
	if len(eps) == 0 {
		return nil
	}
	return tx.InsertDeliveries(newDeliveries(e, eps))
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
