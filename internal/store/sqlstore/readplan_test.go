package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/store/pgtest"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// TestClaimableWalksItsIndexesInOrder: on PostgreSQL the read that asks whether an endpoint
// has work nobody holds (before the periodic re-scan claims) is planned as index scans in
// index order, over the table as it is after
// deliveries finished and before any VACUUM or ANALYZE. An index scan marks the entries of
// dead row versions as it passes them, so the next call skips them; a bitmap scan (the
// plan these reads had) never does, and every call read every finished delivery's entry.
func TestClaimableWalksItsIndexesInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	ev := chat.Event{ID: "evt_r", Type: chat.EventRoomCreate, CreatedAt: now, Payload: []byte(`{}`)}
	var ds []chat.Delivery
	for i := range 500 {
		ds = append(ds, chat.Delivery{ID: fmt.Sprintf("d%04d", i), EventID: ev.ID, EventType: ev.Type, EndpointID: "e", CreatedAt: now})
	}
	if err := s.Write(ctx, func(tx chat.Tx) error {
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
	for _, d := range ds[:450] {
		rs = append(rs, chat.DeliveryResult{ID: d.ID, EndpointID: "e", Owner: "n", Status: chat.DeliverySucceeded, Attempt: chat.Attempt{At: now, StatusCode: 200}})
	}
	if err := s.Write(ctx, func(tx chat.Tx) error { return tx.CompleteDeliveries(rs) }); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, "EXPLAIN "+s.Rebound(sqlstore.QClaimable), "e", now.UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	for _, index := range []string{"deliveries_first", "deliveries_retry"} {
		if strings.Contains(text, "Bitmap") || !strings.Contains(text, "Index Scan using "+index) {
			t.Errorf("not planned as index scans of deliveries_first and deliveries_retry:\n%s", text)
			break
		}
	}
	// The reads still answer what they did.
	if ok, err := s.Claimable(ctx, "e", now.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("claimable after the leases end: %v %v", ok, err)
	}
	if ok, err := s.Claimable(ctx, "e", now); err != nil || ok {
		t.Fatalf("claimable while leased: %v %v", ok, err)
	}
	if at, err := s.NextClaimable(ctx, now); err != nil || at.UnixMicro() != now.Add(time.Minute).UnixMicro() {
		t.Fatalf("next claimable %v (%v), want the leases' end %v", at, err, now.Add(time.Minute))
	}
}
