package chat

import (
	"context"
	"slices"
)

// DeliveryDetail is a delivery with every recorded attempt.
type DeliveryDetail struct {
	Delivery
	Attempts []Attempt `json:"attempts"`
}

// ListDeliveries lists an endpoint's deliveries, newest first, optionally by status.
func (o *Deliveries) ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	if q.Status != "" && !slices.Contains([]string{DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryDead}, q.Status) {
		return nil, Errorf(CodeInvalidArgument, "status %q is not one of pending, succeeded, failed, dead", q.Status)
	}
	if _, err := o.svc.store.GetEndpoint(ctx, q.EndpointID); err != nil {
		return nil, err
	}
	q.Limit = pageLimit(q.Limit)
	return o.svc.store.ListDeliveries(ctx, q)
}

// GetDelivery returns a delivery with its attempts, oldest first.
func (o *Deliveries) GetDelivery(ctx context.Context, id string) (DeliveryDetail, error) {
	return o.svc.store.GetDeliveryDetail(ctx, id)
}

// RetryDelivery schedules an attempt now (manual retry), whatever the delivery's status,
// and answers with the delivery as scheduled: pending, due now. A dead delivery gets one
// more attempt; if it fails, it is dead again. The delivery is leased to this node and
// handed to its engine at once. A delivery whose event is no longer stored (the delivery
// log's retention pruned it) cannot be retried: there is nothing to send (checked in the
// same write as the retry, so a prune cannot fall between the two).
func (o *Deliveries) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	err := o.svc.store.Write(ctx, func(tx Tx) error {
		var err error
		d, err = tx.RetryDelivery(id, o.svc.now(), o.svc.lease())
		return err
	})
	if err != nil {
		return Delivery{}, err
	}
	if o.svc.dispatch != nil {
		o.svc.handOver(Handover{Deliveries: []Delivery{d}})
	} else {
		o.due()
	}
	return d, nil
}
