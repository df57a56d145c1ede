package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

const portalLinkCols = `id, endpoint_id, agent_id, created_at, expires_at, revoked_at`

func scanPortalLink(r Row) (chat.PortalLink, error) {
	var l chat.PortalLink
	var created, expires, revoked int64
	if err := r.Scan(&l.ID, &l.EndpointID, &l.AgentID, &created, &expires, &revoked); err != nil {
		return l, err
	}
	l.CreatedAt, l.ExpiresAt = fromMicros(created), fromMicros(expires)
	if revoked != 0 {
		t := fromMicros(revoked)
		l.RevokedAt = &t
	}
	return l, nil
}

// InsertPortalLink implements chat.Tx.
func (t *Tx) InsertPortalLink(l chat.PortalLink) error {
	_, err := t.exec(`INSERT INTO portal_links (`+portalLinkCols+`) VALUES (?, ?, ?, ?, ?, 0)`,
		l.ID, l.EndpointID, l.AgentID, micros(l.CreatedAt), micros(l.ExpiresAt))
	return t.s.mapErr(err, fmt.Sprintf("portal link %q", l.ID))
}

// RevokePortalLink implements chat.Tx. Revoking twice keeps the first time.
func (t *Tx) RevokePortalLink(id string, at time.Time) error {
	n, err := t.exec(`UPDATE portal_links SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`, micros(at), id)
	return t.mustAffect(n, err, fmt.Sprintf("portal link %q", id))
}

// GetPortalLink implements chat.Reader.
func (s *Store) GetPortalLink(ctx context.Context, id string) (chat.PortalLink, error) {
	l, err := scanPortalLink(s.queryRow(ctx, `SELECT `+portalLinkCols+` FROM portal_links WHERE id = ?`, id))
	return l, s.notFound(err, fmt.Sprintf("portal link %q", id))
}

// ListPortalLinks implements chat.Reader.
func (s *Store) ListPortalLinks(ctx context.Context, limit int) ([]chat.PortalLink, error) {
	if limit <= 0 {
		limit = chat.MaxPage
	}
	rows, err := s.query(ctx, `SELECT `+portalLinkCols+` FROM portal_links ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	return collect(rows, err, scanPortalLink)
}
