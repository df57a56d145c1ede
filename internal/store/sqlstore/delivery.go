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
	"github.com/chathooks/chathooks/internal/ids"
)

const (
	endpointCols = `id, url, description, agent_id, event_types, format, secret, old_secret, old_secret_expires_at,
		include_members, headers, timeout_ms, max_in_flight, rate_limit, retry_max_attempts, retry_max_interval_s,
		retry_ttl_s, status, created_at, updated_at, relay, ordering`
	qGetEndpoint  = `SELECT ` + endpointCols + ` FROM endpoints WHERE id = ?`
	deliveryCols  = `id, event_id, event_type, endpoint_id, status, attempt_count, next_attempt_at, created_at`
	qGetDelivery  = `SELECT ` + deliveryCols + ` FROM deliveries WHERE id = ?`
	claimReturns  = ` RETURNING seq, id, endpoint_id, event_id, attempt_count, created_at`
	qClaimFirst   = `UPDATE deliveries SET locked_until = ?1, lease_owner = ?2 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'pending' AND next_attempt_at <= ?4 AND locked_until <= ?4 ORDER BY seq LIMIT ?5{lock})` + claimReturns
	qClaimRetry   = `UPDATE deliveries SET locked_until = ?1, lease_owner = ?2 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'failed' AND next_attempt_at <= ?4 AND locked_until <= ?4 ORDER BY next_attempt_at LIMIT ?5{lock})` + claimReturns
	insertDlvHead = `INSERT INTO deliveries (id, endpoint_id, event_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at, locked_until, lease_owner) VALUES `
	insertDlvRow  = `(?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)`
	// maxInsertRows bounds one multi-row statement (a power of four; see chunk).
	maxInsertRows = 256
)

func scanEndpoint(r Row) (chat.Endpoint, error) {
	var e chat.Endpoint
	var types, headers, relay string
	var oldExp, created, updated int64
	var members int
	err := r.Scan(&e.ID, &e.URL, &e.Description, &e.AgentID, &types, &e.Format, &e.SecretSealed, &e.OldSealed, &oldExp,
		&members, &headers, &e.TimeoutMS, &e.MaxInFlight, &e.RateLimit, &e.Retry.MaxAttempts, &e.Retry.MaxIntervalS,
		&e.Retry.TTLS, &e.Status, &created, &updated, &relay, &e.Ordering)
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
		e.Retry.TTLS, e.Status, micros(e.UpdatedAt), relay, ordering(e)}, nil
}

func scanDelivery(r Row) (chat.Delivery, error) {
	var d chat.Delivery
	var next, created int64
	if err := r.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.AttemptCount, &next, &created); err != nil {
		return d, err
	}
	return deliveryFrom(d, next, created), nil
}

// deliveryFrom completes a delivery scanned from deliveryCols with its times.
func deliveryFrom(d chat.Delivery, next, created int64) chat.Delivery {
	d.CreatedAt = fromMicros(created)
	if d.Status == chat.DeliveryPending || d.Status == chat.DeliveryFailed {
		t := fromMicros(next)
		d.NextAttemptAt = &t
	}
	return d
}

// routesCache is the routing table of one endpoint version, shared by the writers.
type routesCache struct {
	mu      sync.Mutex
	version int64
	routes  *chat.Routes
}

// EndpointRoutes implements chat.Tx: one primary-key read of the endpoint version per
// transaction; the table is reloaded only when the version changed (any node's endpoint
// write). Within a transaction only the transaction itself can change the version: every
// write runs in a writer batch, and batches commit one at a time (one SQLite writer; the
// PostgreSQL batch lock), so the version read first stays exact until endpointsChanged.
func (t *Tx) EndpointRoutes() (*chat.Routes, error) {
	if !t.versionRead {
		if err := t.row(`SELECT version FROM endpoint_version WHERE id = 1`).Scan(&t.version); err != nil {
			return nil, fmt.Errorf("store: endpoint version: %w", err)
		}
		t.versionRead = true
	}
	v := t.version
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
	r.Version = v
	c.mu.Lock()
	c.version, c.routes = v, r
	c.mu.Unlock()
	return r, nil
}

// endpointsChanged bumps the endpoint version in the transaction.
func (t *Tx) endpointsChanged() error {
	t.endpoints, t.versionRead = true, false
	var b [8]byte
	_, _ = rand.Read(b[:])
	_, err := t.exec(`UPDATE endpoint_version SET version = ? WHERE id = 1`, int64(binary.BigEndian.Uint64(b[:])>>1))
	return t.s.mapErr(err, "endpoint version")
}

// InsertDeliveries implements chat.Tx with multi-row INSERTs.
func (t *Tx) InsertDeliveries(ds []chat.Delivery) error {
	return t.InsertDeliveriesLeased(ds, chat.Lease{})
}

// InsertDeliveriesLeased implements chat.Tx with multi-row INSERTs.
func (t *Tx) InsertDeliveriesLeased(ds []chat.Delivery, l chat.Lease) error {
	until := micros(l.Until)
	if l.Owner == "" {
		t.deliveries = true // work nobody holds: other nodes should look
	}
	for len(ds) > 0 {
		n := chunk(len(ds))
		q := insertDlvHead + strings.Repeat(insertDlvRow+",", n-1) + insertDlvRow
		args := make([]any, 0, n*9)
		for _, d := range ds[:n] {
			c := micros(d.CreatedAt)
			args = append(args, d.ID, d.EndpointID, d.EventID, d.EventType, c, c, c, until, l.Owner)
		}
		if err := t.deferExec("delivery", q, args...); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return nil
}

// chunk is how many of n rows one multi-row statement takes: a power of four up to
// maxInsertRows, so each statement has few distinct texts (each is prepared once).
func chunk(n int) int {
	c := maxInsertRows
	for c > n {
		c /= 4
	}
	return max(c, 1)
}

// inChunks calls fn with the ids a chunk at a time, each with its statement's list of
// placeholders ("?, ?, ?") and the ids as arguments after the lead arguments: a statement
// naming ids takes them chunk by chunk, like the multi-row inserts, so that it has few
// distinct texts whatever the number of ids.
func inChunks(ids []string, lead []any, fn func(list string, args []any) error) error {
	for len(ids) > 0 {
		n := chunk(len(ids))
		args := make([]any, 0, len(lead)+n)
		args = append(args, lead...)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if err := fn("?"+strings.Repeat(", ?", n-1), args); err != nil {
			return err
		}
		ids = ids[n:]
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
		retry_ttl_s, status, updated_at, relay, ordering, id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
		relay = ?, ordering = ? WHERE id = ?`, append(args, e.ID)...)
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
		if w.Ordered {
			got, err := t.claimOrdered(c, w)
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
			continue
		}
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

// CompleteDeliveries implements chat.Tx. Where statements cost round trips (PostgreSQL),
// per chunk of results one statement (outcomeHead). On SQLite a statement costs no round
// trip, and SQLite runs UPDATE ... FROM (VALUES ...) about twenty times slower per row
// than the same update by id (measured: 260 µs against 13 µs a row on a 60,000-row
// table), so there each result is its own prepared statements (completeOne).
func (t *Tx) CompleteDeliveries(rs []chat.DeliveryResult) error {
	if !t.s.d.RoundTrips {
		for _, r := range rs {
			if err := t.completeOne(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := t.deferExec("delivery outcomes", IndexPlans); err != nil {
		return err
	}
	for len(rs) > 0 {
		n := chunk(len(rs))
		if err := t.completeChunk(rs[:n]); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return t.deferExec("delivery outcomes", DefaultPlans)
}

// The outcomes of a chunk of results in one statement (PostgreSQL): the status
// updates, which keep a success in the delivery's row when the lease is the result's,
// and the attempt rows of the rest, for deliveries that still exist (their endpoint may
// have gone meanwhile). A completion without the lease (another owner took it) leaves
// the row alone and keeps its attempt in the log.
const (
	outcomeRow = `(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT),
		CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT))`
	outcomeHead = `WITH v (id, status, next_at, lease_until, at, owner, code, latency_ms, error, response) AS (VALUES `
	outcomeTail = `),
	u AS (UPDATE deliveries SET status = v.status, attempt_count = deliveries.attempt_count + 1, next_attempt_at = v.next_at,
		locked_until = v.lease_until, lease_owner = CASE WHEN v.lease_until = 0 THEN '' ELSE deliveries.lease_owner END,
		updated_at = v.at,
		success_at = CASE WHEN v.status = 'succeeded' THEN v.at ELSE deliveries.success_at END,
		success_code = CASE WHEN v.status = 'succeeded' THEN v.code ELSE deliveries.success_code END,
		success_latency_ms = CASE WHEN v.status = 'succeeded' THEN v.latency_ms ELSE deliveries.success_latency_ms END,
		success_response = CASE WHEN v.status = 'succeeded' THEN v.response ELSE deliveries.success_response END
		FROM v WHERE deliveries.id = v.id AND deliveries.lease_owner = v.owner RETURNING deliveries.id)
	INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, response)
	SELECT v.id, v.at, v.code, v.latency_ms, v.error, v.response FROM v
	WHERE (v.status <> 'succeeded' OR NOT EXISTS (SELECT 1 FROM u WHERE u.id = v.id))
		AND EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id)`
)

const (
	qAttemptOne = `INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, response)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)`
	// qAttemptKnown is qAttemptOne for a delivery known to exist: the status update of the
	// same transaction just found its row. (The existence sub-query was a third of an
	// attempt row's cost on SQLite.)
	qAttemptKnown = `INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, response)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6)`
	qStatusOne = `UPDATE deliveries SET status = ?2, attempt_count = attempt_count + 1, next_attempt_at = ?3,
		locked_until = ?4, lease_owner = CASE WHEN ?4 = 0 THEN '' ELSE lease_owner END, updated_at = ?5
		WHERE id = ?1 AND lease_owner = ?6`
	// qSucceededOne records a success in the delivery's row, its attempt included.
	qSucceededOne = `UPDATE deliveries SET status = 'succeeded', attempt_count = attempt_count + 1, next_attempt_at = 0,
		locked_until = 0, lease_owner = '', updated_at = ?2, success_at = ?2, success_code = ?3, success_latency_ms = ?4,
		success_response = ?5 WHERE id = ?1 AND lease_owner = ?6`
)

// completeOne records one result with the same effect as a row of completeChunk: the
// status (only with the lease), then the attempt (only if the delivery still exists) in
// delivery_attempts, or, for a success with the lease, in the status update itself.
func (t *Tx) completeOne(r chat.DeliveryResult) error {
	a := r.Attempt
	var n int64
	var err error
	if r.Status == chat.DeliverySucceeded {
		n, err = t.exec(qSucceededOne, r.ID, micros(a.At), a.StatusCode, a.LatencyMS, a.ResponseExcerpt, r.Owner)
		if err == nil && n == 1 {
			return t.disableIf(r)
		}
	} else {
		var next, until int64
		if r.Status == chat.DeliveryFailed {
			next, until = micros(r.NextAt), micros(r.LeaseUntil)
		}
		n, err = t.exec(qStatusOne, r.ID, r.Status, next, until, micros(a.At), r.Owner)
	}
	if err != nil {
		return t.s.mapErr(err, "delivery status")
	}
	q := qAttemptKnown
	if n == 0 {
		q = qAttemptOne // the lease went elsewhere, or the delivery is gone
	}
	if _, err := t.exec(q, r.ID, micros(a.At), a.StatusCode, a.LatencyMS, a.Error, a.ResponseExcerpt); err != nil {
		return t.s.mapErr(err, "delivery attempts")
	}
	return t.disableIf(r)
}

// disableIf disables the endpoint of a result that asks for it (410 Gone).
func (t *Tx) disableIf(r chat.DeliveryResult) error {
	if !r.Disable {
		return nil
	}
	if err := t.endpointsChanged(); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE endpoints SET status = 'disabled', updated_at = ? WHERE id = ?`, micros(r.Attempt.At), r.EndpointID); err != nil {
		return t.s.mapErr(err, "endpoint")
	}
	return nil
}

// IndexPlans and DefaultPlans surround a batch's statements that join a list of values to the
// deliveries table (PostgreSQL). A prepared statement's generic plan is made once, from the
// table sizes of that moment, and kept until the table is analyzed again: made while the
// table was nearly empty, it was a sequential scan hashed against the values, kept as the
// table grew (with autovacuum off, for good), until each batch of outcomes took 19 ms after
// 30 s of load and posts backed up behind it. With sequential scans priced out while these
// statements are planned, their plans look rows up by id whatever the table's size.
// (Planning every statement afresh, plan_cache_mode = force_custom_plan, cost 60 % of the
// posts/s; pricing sequential scans out for the whole writer session lengthened the
// latency tail.)
const (
	IndexPlans   = `SET LOCAL enable_seqscan = off`
	DefaultPlans = `SET LOCAL enable_seqscan TO DEFAULT`
)

// completeChunk records a chunk of results with one statement, deferred: on PostgreSQL it
// goes with the batch's next round trip instead of costing one of its own under the batch
// lock. (The statement keeps its own argument slice until it is sent.)
func (t *Tx) completeChunk(rs []chat.DeliveryResult) error {
	n := len(rs)
	args := make([]any, 0, 10*n)
	for _, r := range rs {
		var next, until int64
		if r.Status == chat.DeliveryFailed {
			next, until = micros(r.NextAt), micros(r.LeaseUntil)
		}
		a := r.Attempt
		args = append(args, r.ID, r.Status, next, until, micros(a.At), r.Owner, a.StatusCode, a.LatencyMS, a.Error, a.ResponseExcerpt)
	}
	if err := t.deferExec("delivery outcomes", outcomeHead+strings.Repeat(outcomeRow+",", n-1)+outcomeRow+outcomeTail, args...); err != nil {
		return err
	}
	for _, r := range rs {
		if err := t.disableIf(r); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseDeliveries implements chat.Tx.
func (t *Tx) ReleaseDeliveries(owner string, ids []string) error {
	t.deliveries = true
	if len(ids) == 0 {
		for _, q := range qReleaseOwner {
			if _, err := t.exec(q, owner); err != nil {
				return t.s.mapErr(err, "release deliveries")
			}
		}
		return nil
	}
	return inChunks(ids, []any{owner}, func(list string, args []any) error {
		_, err := t.exec(`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE lease_owner = ? AND id IN (`+list+`)`, args...)
		return t.s.mapErr(err, "release deliveries")
	})
}

// RenewLeases implements chat.Tx.
func (t *Tx) RenewLeases(owner string, until time.Time, ids []string) (int64, error) {
	var total int64
	err := inChunks(ids, []any{micros(until), owner}, func(list string, args []any) error {
		c, err := t.exec(`UPDATE deliveries SET locked_until = ? WHERE lease_owner = ? AND status IN ('pending', 'failed') AND id IN (`+list+`)`, args...)
		total += c
		return t.s.mapErr(err, "renew leases")
	})
	return total, err
}

// Leases are only ever on unfinished deliveries (pending, or failed with a retry due): a
// completion that finishes one ends its lease. So the statements that look for leased rows
// say which of the two they want, and each reads its status's partial index (SQLite keeps
// no index of leases; without the status, and with the owner a parameter, it scanned the
// table).
var (
	qReleaseOwner = [...]string{
		`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE status = 'pending' AND lease_owner = ?`,
		`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE status = 'failed' AND lease_owner = ?`,
	}
	qReleaseAll = [...]string{
		`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE status = 'pending' AND lease_owner <> ''`,
		`UPDATE deliveries SET locked_until = 0, lease_owner = '' WHERE status = 'failed' AND lease_owner <> ''`,
	}
)

// ReleaseAllLeases implements chat.Tx.
func (t *Tx) ReleaseAllLeases() (int64, error) {
	var total int64
	for _, q := range qReleaseAll {
		n, err := t.exec(q)
		if err != nil {
			return total, t.s.mapErr(err, "release leases")
		}
		total += n
	}
	return total, nil
}

// StoredEvents implements chat.Tx. The ids go chunk at a time, as the multi-row inserts
// do, so the writer prepares few distinct statements.
func (t *Tx) StoredEvents(ids []string) ([]string, error) {
	out := []string{}
	err := inChunks(ids, nil, func(list string, args []any) error {
		rows, err := t.query(`SELECT id FROM events WHERE id IN (`+list+`)`, args...)
		got, err := collect(rows, err, func(r Row) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		out = append(out, got...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// qRetryKeepSuccess moves a success kept in a delivery's row into its attempts, and
// qRetryDelivery schedules the delivery now; both only while its event is stored.
const (
	qRetryKeepSuccess = `INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, response)
		SELECT id, success_at, success_code, success_latency_ms, '', success_response FROM deliveries
		WHERE id = ? AND success_at <> 0 AND EXISTS (SELECT 1 FROM events WHERE events.id = deliveries.event_id)`
	qRetryDelivery = `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?,
		locked_until = ?, lease_owner = ?, success_at = 0, success_code = 0, success_latency_ms = 0, success_response = ''
		WHERE id = ? AND EXISTS (SELECT 1 FROM events WHERE events.id = deliveries.event_id) RETURNING ` + deliveryCols
)

// RetryStatements are a manual retry's statements and replay's position lookup.
var RetryStatements = []string{qRetryKeepSuccess, qRetryDelivery, qEventPosBefore}

// RetryDelivery implements chat.Tx. Both statements require the delivery's event to be
// stored, in the same transaction as the retention's deletes run (one writer), so a retry
// and a prune cannot interleave: either the event is there and the delivery is scheduled,
// or nothing changes and the caller is told why.
func (t *Tx) RetryDelivery(id string, now time.Time, l chat.Lease) (chat.Delivery, error) {
	n := micros(now)
	if l.Owner == "" {
		t.deliveries = true
	}
	// A success kept in the row joins the other attempts: the row will hold the next one.
	if _, err := t.exec(qRetryKeepSuccess, id); err != nil {
		return chat.Delivery{}, t.s.mapErr(err, "delivery attempts")
	}
	d, err := scanDelivery(t.row(qRetryDelivery, n, n, micros(l.Until), l.Owner, id))
	if err == nil || !t.noRows(err) {
		return d, t.s.notFound(err, fmt.Sprintf("delivery %q", id))
	}
	// No row: the delivery does not exist, or its event is gone.
	var event string
	if err := t.row(`SELECT event_id FROM deliveries WHERE id = ?`, id).Scan(&event); err != nil {
		return chat.Delivery{}, t.s.notFound(err, fmt.Sprintf("delivery %q", id))
	}
	return chat.Delivery{}, chat.Errorf(chat.CodeFailedPrecond,
		"delivery %q cannot be retried: its event %q is no longer stored (older than the delivery log's retention)", id, event)
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
			if !ids.Valid("dlv", q.Before) {
				return nil, chat.Errorf(chat.CodeInvalidArgument, "cursor %q is not a delivery", q.Before)
			}
			// The cursor's delivery is gone (the retention pruned it while a client paged):
			// the page goes on from the newest delivery created before it, by the time
			// order of ids; none: nothing older is left.
			before = 0
			err = s.queryRow(ctx, `SELECT seq + 1 FROM deliveries WHERE id < ? ORDER BY id DESC LIMIT 1`, q.Before).Scan(&before)
			if s.d.NoRows(err) {
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("store: delivery cursor: %w", err)
		}
	}
	rows, err := s.query(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE endpoint_id = ? AND seq < ?
		AND (CAST(? AS TEXT) = '' OR status = ?) ORDER BY seq DESC LIMIT ?`, q.EndpointID, before, q.Status, q.Status, q.Limit)
	return collect(rows, err, scanDelivery)
}

// GetDeliveryDetail implements chat.Reader: the delivery's row and its attempts in one
// statement, so that they are read as of one moment (as two reads, an outcome recorded
// between them showed a pending delivery with its successful attempt). A success kept in
// the delivery's row is its last attempt.
func (s *Store) GetDeliveryDetail(ctx context.Context, id string) (chat.DeliveryDetail, error) {
	rows, err := s.query(ctx, `SELECT k, id, event_id, event_type, endpoint_id, status, attempt_count, next_attempt_at,
		created_at, at, n, code, latency_ms, error, response FROM (
		SELECT 0 AS k, `+deliveryCols+`, 0 AS at, 0 AS n, 0 AS code, 0 AS latency_ms, '' AS error, '' AS response
		FROM deliveries WHERE id = ?1
		UNION ALL
		SELECT 1, '', '', '', '', '', 0, 0, 0, at, n, status_code, latency_ms, error, response
		FROM delivery_attempts WHERE delivery_id = ?1
		UNION ALL
		SELECT 1, '', '', '', '', '', 0, 0, 0, success_at, 9223372036854775807, success_code, success_latency_ms, '', success_response
		FROM deliveries WHERE id = ?1 AND success_at <> 0) AS x ORDER BY k, at, n`, id)
	if err != nil {
		return chat.DeliveryDetail{}, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	var out chat.DeliveryDetail
	found := false
	for rows.Next() {
		var k int
		var d chat.Delivery
		var a chat.Attempt
		var next, created, at, n int64
		if err := rows.Scan(&k, &d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.AttemptCount, &next, &created,
			&at, &n, &a.StatusCode, &a.LatencyMS, &a.Error, &a.ResponseExcerpt); err != nil {
			return chat.DeliveryDetail{}, fmt.Errorf("store: scan: %w", err)
		}
		if k == 0 {
			found = true
			out.Delivery = deliveryFrom(d, next, created)
			continue
		}
		a.At = fromMicros(at)
		out.Attempts = append(out.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return chat.DeliveryDetail{}, fmt.Errorf("store: rows: %w", err)
	}
	if !found {
		return chat.DeliveryDetail{}, chat.Errorf(chat.CodeNotFound, "delivery %q not found", id)
	}
	if out.Attempts == nil {
		out.Attempts = []chat.Attempt{}
	}
	return out, nil
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

// NextClaimable implements chat.Reader: the earliest end of another owner's lease
// (already past if a dead node's leases wait to be claimed), and the earliest due time of
// a retry nobody holds, among the deliveries of active endpoints.
func (s *Store) NextClaimable(ctx context.Context, now time.Time) (time.Time, error) {
	var lease, due *int64
	// A single node's leases last until it restarts, and its start gives them all back:
	// none ends while it runs.
	if !s.d.SingleNode {
		q := `SELECT MIN(d.locked_until) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
			WHERE d.lease_owner <> '' AND d.status IN ('pending', 'failed') AND e.status = 'active'`
		if s.d.NextLeaseEnd != "" {
			q = s.d.NextLeaseEnd
		}
		if err := s.queryRow(ctx, q).Scan(&lease); err != nil {
			return time.Time{}, fmt.Errorf("store: next lease expiry: %w", err)
		}
	}
	err := s.queryRow(ctx, `SELECT MIN(d.next_attempt_at) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
		WHERE d.status = 'failed' AND d.locked_until <= ? AND e.status = 'active'`, micros(now)).Scan(&due)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: next retry due: %w", err)
	}
	var at int64
	for _, v := range []*int64{lease, due} {
		if v != nil && (at == 0 || *v < at) {
			at = *v
		}
	}
	return fromMicros(at), nil
}

// Claimable implements chat.Reader, with the conditions of qClaimFirst and qClaimRetry.
func (s *Store) Claimable(ctx context.Context, endpointID string, now time.Time) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE endpoint_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2 AND locked_until <= ?2 LIMIT 1) AS f) +
		(SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE endpoint_id = ?1 AND status = 'failed' AND next_attempt_at <= ?2 AND locked_until <= ?2 LIMIT 1) AS r)`,
		endpointID, micros(now)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: claimable deliveries: %w", err)
	}
	return n > 0, nil
}

// EndpointVersion implements chat.Reader.
func (s *Store) EndpointVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.queryRow(ctx, `SELECT version FROM endpoint_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: endpoint version: %w", err)
	}
	return v, nil
}
