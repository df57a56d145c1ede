package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

const (
	endpointCols = `id, url, description, agent_id, event_types, format, secret, old_secret, old_secret_expires_at,
		include_members, headers, timeout_ms, max_in_flight, rate_limit, retry_max_attempts, retry_max_interval_s,
		retry_ttl_s, status, created_at, updated_at, relay`
	qGetEndpoint  = `SELECT ` + endpointCols + ` FROM endpoints WHERE id = ?`
	deliveryCols  = `id, event_id, event_type, endpoint_id, status, attempt_count, next_attempt_at, created_at`
	qGetDelivery  = `SELECT ` + deliveryCols + ` FROM deliveries WHERE id = ?`
	claimReturns  = ` RETURNING seq, id, endpoint_id, event_id, attempt_count, created_at`
	qClaimFirst   = `UPDATE deliveries SET locked_until = ?1, lease_owner = ?2 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'pending' AND next_attempt_at <= ?4 AND locked_until <= ?4 ORDER BY seq LIMIT ?5{lock})` + claimReturns
	qClaimRetry   = `UPDATE deliveries SET locked_until = ?1, lease_owner = ?2 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'failed' AND next_attempt_at <= ?4 AND locked_until <= ?4 ORDER BY next_attempt_at LIMIT ?5{lock})` + claimReturns
	insertDlvHead = `INSERT INTO deliveries (id, endpoint_id, event_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at) VALUES `
	insertDlvRow  = `(?, ?, ?, ?, 'pending', 0, ?, ?, ?)`
	// maxInsertRows bounds one multi-row INSERT (7 parameters per row).
	maxInsertRows = 64
)

func scanEndpoint(r Row) (chat.Endpoint, error) {
	var e chat.Endpoint
	var types, headers, relay string
	var oldExp, created, updated int64
	var members int
	err := r.Scan(&e.ID, &e.URL, &e.Description, &e.AgentID, &types, &e.Format, &e.SecretSealed, &e.OldSealed, &oldExp,
		&members, &headers, &e.TimeoutMS, &e.MaxInFlight, &e.RateLimit, &e.Retry.MaxAttempts, &e.Retry.MaxIntervalS,
		&e.Retry.TTLS, &e.Status, &created, &updated, &relay)
	if err != nil {
		return e, err
	}
	if err := decodeRelay(relay, &e); err != nil {
		return e, err
	}
	e.IncludeMembers = members != 0
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return e, fmt.Errorf("sqlite: decode event types: %w", err)
	}
	if err := json.Unmarshal([]byte(headers), &e.Headers); err != nil {
		return e, fmt.Errorf("sqlite: decode headers: %w", err)
	}
	e.OldExpiresAt, e.CreatedAt, e.UpdatedAt = fromMicros(oldExp), fromMicros(created), fromMicros(updated)
	return e, nil
}

func endpointArgs(e chat.Endpoint) ([]any, error) {
	types, err := json.Marshal(e.EventTypes)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode event types: %w", err)
	}
	h := e.Headers
	if h == nil {
		h = map[string]string{}
	}
	headers, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode headers: %w", err)
	}
	members := 0
	if e.IncludeMembers {
		members = 1
	}
	relay, err := encodeRelay(e)
	if err != nil {
		return nil, err
	}
	return []any{e.URL, e.Description, e.AgentID, string(types), e.Format, e.SecretSealed, e.OldSealed, micros(e.OldExpiresAt),
		members, string(headers), e.TimeoutMS, e.MaxInFlight, e.RateLimit, e.Retry.MaxAttempts, e.Retry.MaxIntervalS,
		e.Retry.TTLS, e.Status, micros(e.UpdatedAt), relay}, nil
}

func scanDelivery(r Row) (chat.Delivery, error) {
	var d chat.Delivery
	var next, created int64
	if err := r.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.AttemptCount, &next, &created); err != nil {
		return d, err
	}
	d.CreatedAt = fromMicros(created)
	if d.Status == chat.DeliveryPending || d.Status == chat.DeliveryFailed {
		t := fromMicros(next)
		d.NextAttemptAt = &t
	}
	return d, nil
}

// routesCache is the routing table of one endpoint version, shared by the writers.
type routesCache struct {
	mu      sync.Mutex
	version int64
	routes  *chat.Routes
}

// EndpointRoutes implements chat.Tx: one primary-key read of the endpoint version per
// call; the table is reloaded only when the version changed (any node's endpoint write).
func (t *Tx) EndpointRoutes() (*chat.Routes, error) {
	var v int64
	if err := t.row(`SELECT version FROM endpoint_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: endpoint version: %w", err)
	}
	c := &t.s.routes
	c.mu.Lock()
	if c.routes != nil && c.version == v {
		r := c.routes
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()
	rows, err := t.query(`SELECT ` + endpointCols + ` FROM endpoints WHERE status <> 'disabled'`)
	eps, err := collect(rows, err, scanEndpoint)
	if err != nil {
		return nil, err
	}
	r := chat.NewRoutes(eps)
	c.mu.Lock()
	c.version, c.routes = v, r
	c.mu.Unlock()
	return r, nil
}

// endpointsChanged bumps the endpoint version in the transaction.
func (t *Tx) endpointsChanged() error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	_, err := t.exec(`UPDATE endpoint_version SET version = ? WHERE id = 1`, int64(binary.BigEndian.Uint64(b[:])>>1))
	return t.s.mapErr(err, "endpoint version")
}

// InsertDeliveries implements chat.Tx with multi-row INSERTs.
func (t *Tx) InsertDeliveries(ds []chat.Delivery) error {
	for len(ds) > 0 {
		n := min(len(ds), maxInsertRows)
		q := insertDlvHead + strings.Repeat(insertDlvRow+",", n-1) + insertDlvRow
		args := make([]any, 0, n*7)
		for _, d := range ds[:n] {
			c := micros(d.CreatedAt)
			args = append(args, d.ID, d.EndpointID, d.EventID, d.EventType, c, c, c)
		}
		if _, err := t.exec(q, args...); err != nil {
			return t.s.mapErr(err, "delivery")
		}
		ds = ds[n:]
	}
	return nil
}

// InsertEndpoint implements chat.Tx.
func (t *Tx) InsertEndpoint(e chat.Endpoint) error {
	args, err := endpointArgs(e)
	if err != nil {
		return err
	}
	if err := t.endpointsChanged(); err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO endpoints (url, description, agent_id, event_types, format, secret, old_secret, old_secret_expires_at,
		include_members, headers, timeout_ms, max_in_flight, rate_limit, retry_max_attempts, retry_max_interval_s,
		retry_ttl_s, status, updated_at, relay, id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append(args, e.ID, micros(e.CreatedAt))...)
	return t.s.mapErr(err, fmt.Sprintf("endpoint %q", e.ID))
}

// GetEndpoint implements chat.Tx.
func (t *Tx) GetEndpoint(id string) (chat.Endpoint, error) {
	e, err := scanEndpoint(t.row(qGetEndpoint, id))
	return e, t.s.notFound(err, fmt.Sprintf("endpoint %q", id))
}

// UpdateEndpoint implements chat.Tx.
func (t *Tx) UpdateEndpoint(e chat.Endpoint) error {
	args, err := endpointArgs(e)
	if err != nil {
		return err
	}
	if err := t.endpointsChanged(); err != nil {
		return err
	}
	n, err := t.exec(`UPDATE endpoints SET url = ?, description = ?, agent_id = ?, event_types = ?, format = ?, secret = ?,
		old_secret = ?, old_secret_expires_at = ?, include_members = ?, headers = ?, timeout_ms = ?, max_in_flight = ?,
		rate_limit = ?, retry_max_attempts = ?, retry_max_interval_s = ?, retry_ttl_s = ?, status = ?, updated_at = ?,
		relay = ? WHERE id = ?`, append(args, e.ID)...)
	return t.mustAffect(n, err, fmt.Sprintf("endpoint %q", e.ID))
}

// DeleteEndpoint implements chat.Tx.
func (t *Tx) DeleteEndpoint(id string) error {
	if err := t.endpointsChanged(); err != nil {
		return err
	}
	n, err := t.exec(`DELETE FROM endpoints WHERE id = ?`, id)
	return t.mustAffect(n, err, fmt.Sprintf("endpoint %q", id))
}

// ClaimDeliveries implements chat.Tx: one UPDATE ... RETURNING per lane and endpoint, over
// rows locked with FOR UPDATE SKIP LOCKED, so nodes claiming at once never wait on each other.
func (t *Tx) ClaimDeliveries(c chat.Claim) ([]chat.Claimed, error) {
	var out []chat.Claimed
	now, until := micros(c.Now), micros(c.LeaseUntil)
	for _, w := range c.Wants {
		for _, lane := range [...]struct {
			q string
			n int
		}{{t.s.claimFirst, w.First}, {t.s.claimRetry, w.Retry}} {
			if lane.n <= 0 {
				continue
			}
			rows, err := t.query(lane.q, until, c.Owner, w.EndpointID, now, lane.n)
			got, err := collect(rows, err, func(r Row) (chat.Claimed, error) {
				var cl chat.Claimed
				var created int64
				err := r.Scan(&cl.Seq, &cl.ID, &cl.EndpointID, &cl.EventID, &cl.AttemptCount, &created)
				cl.CreatedAt = fromMicros(created)
				return cl, err
			})
			if err != nil {
				return nil, fmt.Errorf("store: claim deliveries: %w", err)
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Seq < got[j].Seq })
			out = append(out, got...)
		}
	}
	return out, nil
}

// CompleteDeliveries implements chat.Tx.
func (t *Tx) CompleteDeliveries(rs []chat.DeliveryResult) error {
	for _, r := range rs {
		a := r.Attempt
		at := micros(a.At)
		if _, err := t.exec(`INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, response)
			SELECT CAST(?1 AS TEXT), CAST(?2 AS BIGINT), CAST(?3 AS INTEGER), CAST(?4 AS BIGINT), CAST(?5 AS TEXT), CAST(?6 AS TEXT) WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)`,
			r.ID, at, a.StatusCode, a.LatencyMS, a.Error, a.ResponseExcerpt); err != nil {
			return t.s.mapErr(err, "delivery attempt")
		}
		var next int64
		if r.Status == chat.DeliveryFailed {
			next = micros(r.NextAt)
		}
		if _, err := t.exec(`UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, next_attempt_at = ?,
			locked_until = 0, lease_owner = '', updated_at = ? WHERE id = ? AND lease_owner = ?`,
			r.Status, next, at, r.ID, r.Owner); err != nil {
			return t.s.mapErr(err, "delivery")
		}
		if r.Disable {
			if err := t.endpointsChanged(); err != nil {
				return err
			}
			if _, err := t.exec(`UPDATE endpoints SET status = 'disabled', updated_at = ? WHERE id = ?`, at, r.EndpointID); err != nil {
				return t.s.mapErr(err, "endpoint")
			}
		}
	}
	return nil
}

// ReleaseDeliveries implements chat.Tx.
func (t *Tx) ReleaseDeliveries(owner string, ids []string) error {
	if len(ids) == 0 {
		_, err := t.exec(`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE lease_owner = ?`, owner)
		return t.s.mapErr(err, "release deliveries")
	}
	for _, id := range ids {
		if _, err := t.exec(`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE id = ? AND lease_owner = ?`, id, owner); err != nil {
			return t.s.mapErr(err, "release delivery")
		}
	}
	return nil
}

// ReleaseAllLeases implements chat.Tx.
func (t *Tx) ReleaseAllLeases() (int64, error) {
	n, err := t.exec(`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE locked_until > 0`)
	return n, t.s.mapErr(err, "release leases")
}

// RetryDelivery implements chat.Tx.
func (t *Tx) RetryDelivery(id string, now time.Time) (chat.Delivery, error) {
	n := micros(now)
	d, err := scanDelivery(t.row(`UPDATE deliveries SET status = CASE status WHEN 'pending' THEN 'pending' ELSE 'failed' END,
		next_attempt_at = ?, updated_at = ? WHERE id = ? RETURNING `+deliveryCols, n, n, id))
	return d, t.s.notFound(err, fmt.Sprintf("delivery %q", id))
}

// GetEndpoint implements chat.Reader.
func (s *Store) GetEndpoint(ctx context.Context, id string) (chat.Endpoint, error) {
	e, err := scanEndpoint(s.queryRow(ctx, qGetEndpoint, id))
	return e, s.notFound(err, fmt.Sprintf("endpoint %q", id))
}

// ListEndpoints implements chat.Reader.
func (s *Store) ListEndpoints(ctx context.Context, after string, limit int) ([]chat.Endpoint, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.query(ctx, `SELECT `+endpointCols+` FROM endpoints WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	return collect(rows, err, scanEndpoint)
}

// GetDelivery implements chat.Reader.
func (s *Store) GetDelivery(ctx context.Context, id string) (chat.Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, qGetDelivery, id))
	return d, s.notFound(err, fmt.Sprintf("delivery %q", id))
}

// ListDeliveries implements chat.Reader.
func (s *Store) ListDeliveries(ctx context.Context, q chat.DeliveryQuery) ([]chat.Delivery, error) {
	before := int64(1<<62 - 1)
	if q.Before != "" {
		err := s.queryRow(ctx, `SELECT seq FROM deliveries WHERE id = ?`, q.Before).Scan(&before)
		if err != nil && s.d.NoRows(err) {
			return nil, chat.Errorf(chat.CodeInvalidArgument, "cursor %q is not a delivery", q.Before)
		}
		if err != nil {
			return nil, fmt.Errorf("store: delivery cursor: %w", err)
		}
	}
	rows, err := s.query(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE endpoint_id = ? AND seq < ?
		AND (CAST(? AS TEXT) = '' OR status = ?) ORDER BY seq DESC LIMIT ?`, q.EndpointID, before, q.Status, q.Status, q.Limit)
	return collect(rows, err, scanDelivery)
}

// DeliveryAttempts implements chat.Reader.
func (s *Store) DeliveryAttempts(ctx context.Context, id string) ([]chat.Attempt, error) {
	rows, err := s.query(ctx, `SELECT at, status_code, latency_ms, error, response FROM delivery_attempts
		WHERE delivery_id = ? ORDER BY at, n`, id)
	return collect(rows, err, func(r Row) (chat.Attempt, error) {
		var a chat.Attempt
		var at int64
		err := r.Scan(&at, &a.StatusCode, &a.LatencyMS, &a.Error, &a.ResponseExcerpt)
		a.At = fromMicros(at)
		return a, err
	})
}

// EventsByID implements chat.Reader.
func (s *Store) EventsByID(ctx context.Context, ids []string) ([]chat.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.query(ctx, `SELECT `+eventCols+` FROM events WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	return collect(rows, err, func(r Row) (chat.Event, error) {
		e, _, err := scanEvent(r)
		return e, err
	})
}

// RetryDueTimes implements chat.Reader.
func (s *Store) RetryDueTimes(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.query(ctx, `SELECT endpoint_id, MIN(next_attempt_at) FROM deliveries WHERE status = 'failed' GROUP BY endpoint_id`)
	if err != nil {
		return nil, fmt.Errorf("store: retry due times: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("store: retry due times: %w", err)
		}
		out[id] = fromMicros(at)
	}
	return out, rows.Err()
}
