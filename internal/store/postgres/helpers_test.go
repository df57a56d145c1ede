package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// openWrapped opens a store on a fresh schema whose writer connection is wrapped by wrap,
// and returns the wrapper (o.Writers should be 1, or the last writer's wrapper is kept).
func openWrapped[W sqlstore.WriterConn](t *testing.T, o postgres.Options, wrap func(sqlstore.WriterConn) W) (*sqlstore.Store, W) {
	t.Helper()
	var w W
	postgres.WrapWriters(&o, func(c sqlstore.WriterConn) sqlstore.WriterConn { w = wrap(c); return w })
	s, err := postgres.Open(context.Background(), pgtest.URL(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, w
}

// leasedDeliveries writes endpoint "e", an event and two deliveries of it leased to "n",
// and returns the results that complete both.
func leasedDeliveries(t *testing.T, s *sqlstore.Store, now time.Time) []chat.DeliveryResult {
	t.Helper()
	ev := chat.Event{ID: "evt_p", Type: chat.EventRoomCreate, CreatedAt: now, Payload: []byte(`{}`)}
	ds := []chat.Delivery{{ID: "d1", EventID: ev.ID, EventType: ev.Type, EndpointID: "e", CreatedAt: now},
		{ID: "d2", EventID: ev.ID, EventType: ev.Type, EndpointID: "e", CreatedAt: now}}
	if err := s.Write(context.Background(), func(tx chat.Tx) error {
		if err := tx.InsertEndpoint(chat.Endpoint{ID: "e", URL: "https://example.com/e", EventTypes: []string{"*"}, Format: chat.FormatStandard,
			SecretSealed: "sealed", Status: chat.EndpointActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.AppendEvent(&ev); err != nil {
			return err
		}
		return tx.InsertDeliveriesLeased(ds, chat.Lease{Owner: "n", Until: now.Add(time.Minute)})
	}); err != nil {
		t.Fatal(err)
	}
	var rs []chat.DeliveryResult
	for _, d := range ds {
		rs = append(rs, chat.DeliveryResult{ID: d.ID, EndpointID: "e", Owner: "n", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: now, StatusCode: 200}})
	}
	return rs
}
