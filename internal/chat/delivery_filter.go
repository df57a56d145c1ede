package chat

import (
	"context"
)

// MaxTypeScan bounds how many deliveries one filtered listing reads looking for an event
// type; the cursor it returns lets the caller continue from there.
const MaxTypeScan = 2000

// ListDeliveriesOfType lists an endpoint's deliveries of one event type, newest first,
// optionally by status. It reads the endpoint's log page by page (at most MaxTypeScan rows
// per call) and returns the matches with the cursor to continue from ("" at the end).
func (o *Deliveries) ListDeliveriesOfType(ctx context.Context, q DeliveryQuery, eventType string) ([]Delivery, string, error) {
	if !KnownEventType(eventType) {
		return nil, "", Errorf(CodeInvalidArgument, "event_type %q is not a known event type", eventType)
	}
	want := pageLimit(q.Limit)
	out := []Delivery{}
	scanned := 0
	for {
		q.Limit = MaxPage
		ds, err := o.ListDeliveries(ctx, q)
		if err != nil {
			return nil, "", err
		}
		for i, d := range ds {
			scanned++
			if d.EventType == eventType {
				out = append(out, d)
				if len(out) == want {
					if i == len(ds)-1 && len(ds) < MaxPage {
						return out, "", nil
					}
					return out, d.ID, nil
				}
			}
		}
		if len(ds) < MaxPage {
			return out, "", nil
		}
		q.Before = ds[len(ds)-1].ID
		if scanned >= MaxTypeScan {
			return out, q.Before, nil
		}
	}
}
