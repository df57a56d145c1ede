package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// ordering is the stored value of an endpoint's ordering ("" is the default).
func ordering(e chat.Endpoint) string {
	if e.Ordering == "" {
		return chat.OrderingConcurrent
	}
	return e.Ordering
}

// qClaimOrdered claims a fifo endpoint's unfinished deliveries that no live lease holds,
// in commit order (seq), due or not, unless another owner holds a live lease on one of
// them. Pending and failed rows are read through their own partial indexes, each in seq
// order, and merged; so are the live leases looked for. (next_attempt_at >= 0 holds for
// every row: with it SQLite reads the retry index, keyed by endpoint and due time, rather
// than the endpoint's whole history in seq order to save sorting a few rows.) Claims need
// no row locks: on PostgreSQL every write batch of every node holds the batch lock, so no
// other claim runs between the check and the update.
const qClaimOrdered = `UPDATE deliveries SET locked_until = ?1, lease_owner = ?2 WHERE seq IN (
		SELECT seq FROM (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'pending' AND locked_until <= ?4 ORDER BY seq LIMIT ?5) AS p
		UNION ALL
		SELECT seq FROM (SELECT seq FROM deliveries WHERE endpoint_id = ?3 AND status = 'failed' AND next_attempt_at >= 0 AND locked_until <= ?4 ORDER BY seq LIMIT ?5) AS f
		ORDER BY seq LIMIT ?5)
	AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.endpoint_id = ?3 AND o.status = 'pending'
		AND o.lease_owner <> '' AND o.lease_owner <> ?2 AND o.locked_until > ?4)
	AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.endpoint_id = ?3 AND o.status = 'failed'
		AND o.lease_owner <> '' AND o.lease_owner <> ?2 AND o.locked_until > ?4)
	RETURNING seq, id, endpoint_id, event_id, attempt_count, created_at, next_attempt_at`

// claimOrdered is ClaimDeliveries for one ordered want.
func (t *Tx) claimOrdered(c chat.Claim, w chat.ClaimWant) ([]chat.Claimed, error) {
	if w.First <= 0 {
		return nil, nil
	}
	rows, err := t.query(qClaimOrdered, micros(c.LeaseUntil), c.Owner, w.EndpointID, micros(c.Now), w.First)
	got, err := collect(rows, err, func(r Row) (chat.Claimed, error) {
		var cl chat.Claimed
		var created, due int64
		err := r.Scan(&cl.Seq, &cl.ID, &cl.EndpointID, &cl.EventID, &cl.AttemptCount, &created, &due)
		cl.CreatedAt, cl.Due = fromMicros(created), fromMicros(due)
		return cl, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim ordered deliveries: %w", err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Seq < got[j].Seq })
	return got, nil
}

// workspaceKey is the settings row holding the workspace settings (JSON).
const workspaceKey = "workspace"

// workspaceColumn is the JSON of the workspace settings row.
type workspaceColumn struct {
	AlertsRoomID string `json:"alerts_room_id,omitempty"`
	UpdatedAt    int64  `json:"updated_at,omitempty"`
}

func decodeWorkspace(v string) (chat.WorkspaceSettings, error) {
	var c workspaceColumn
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return chat.WorkspaceSettings{}, fmt.Errorf("store: decode workspace settings: %w", err)
	}
	return chat.WorkspaceSettings{AlertsRoomID: c.AlertsRoomID, UpdatedAt: fromMicros(c.UpdatedAt)}, nil
}

// WorkspaceSettings implements chat.Tx.
func (t *Tx) WorkspaceSettings() (chat.WorkspaceSettings, error) {
	var v string
	err := t.row(`SELECT value FROM settings WHERE key = ?`, workspaceKey).Scan(&v)
	if t.s.d.NoRows(err) {
		return chat.WorkspaceSettings{}, nil
	}
	if err != nil {
		return chat.WorkspaceSettings{}, fmt.Errorf("store: workspace settings: %w", err)
	}
	return decodeWorkspace(v)
}

// SetWorkspaceSettings implements chat.Tx.
func (t *Tx) SetWorkspaceSettings(ws chat.WorkspaceSettings) error {
	b, err := json.Marshal(workspaceColumn{AlertsRoomID: ws.AlertsRoomID, UpdatedAt: micros(ws.UpdatedAt)})
	if err != nil {
		return fmt.Errorf("store: encode workspace settings: %w", err)
	}
	_, err = t.exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		workspaceKey, string(b))
	return t.s.mapErr(err, "workspace settings")
}

// EndpointHealth implements chat.Tx.
func (t *Tx) EndpointHealth(endpointID string) (string, error) {
	var st string
	err := t.row(`SELECT state FROM endpoint_health WHERE endpoint_id = ?`, endpointID).Scan(&st)
	if t.s.d.NoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: endpoint health: %w", err)
	}
	return st, nil
}

// SetEndpointHealth implements chat.Tx. Setting the state of an endpoint that does not
// exist (deleted meanwhile) is not an error: it does nothing.
func (t *Tx) SetEndpointHealth(endpointID, state string, at time.Time) error {
	_, err := t.exec(`INSERT INTO endpoint_health (endpoint_id, state, changed_at)
		SELECT id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM endpoints WHERE id = ?
		ON CONFLICT (endpoint_id) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at`,
		state, micros(at), endpointID)
	return t.s.mapErr(err, "endpoint health")
}

// WorkspaceSettings implements chat.Reader.
func (s *Store) WorkspaceSettings(ctx context.Context) (chat.WorkspaceSettings, error) {
	var v string
	err := s.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, workspaceKey).Scan(&v)
	if s.d.NoRows(err) {
		return chat.WorkspaceSettings{}, nil
	}
	if err != nil {
		return chat.WorkspaceSettings{}, fmt.Errorf("store: workspace settings: %w", err)
	}
	return decodeWorkspace(v)
}

// EndpointHealth implements chat.Reader.
func (s *Store) EndpointHealth(ctx context.Context, endpointID string) (string, error) {
	var st string
	err := s.queryRow(ctx, `SELECT state FROM endpoint_health WHERE endpoint_id = ?`, endpointID).Scan(&st)
	if s.d.NoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: endpoint health: %w", err)
	}
	return st, nil
}
