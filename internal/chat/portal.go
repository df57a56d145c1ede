package chat

import (
	"context"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// Portal link bounds.
const (
	DefaultPortalLinkTTL = 24 * time.Hour
	MaxPortalLinkTTL     = 30 * 24 * time.Hour
)

// PortalLink grants an endpoint's owner access to the owners' portal: one endpoint, or (with
// AgentID) every endpoint of one agent. The link's URL carries its id signed with a key held
// outside the database; the row lets an administrator revoke it before it expires.
type PortalLink struct {
	ID         string     `json:"id"`
	EndpointID string     `json:"endpoint_id,omitempty" doc:"the one endpoint the link shows (absent for an agent link)"`
	AgentID    string     `json:"agent_id,omitempty" doc:"the agent whose every endpoint the link shows (absent for an endpoint link)"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Covers reports whether the link grants access to endpoint e.
func (l PortalLink) Covers(e Endpoint) bool {
	if l.AgentID != "" {
		return e.AgentID == l.AgentID
	}
	return e.ID == l.EndpointID
}

// PortalTx holds the portal-link writes.
type PortalTx interface {
	InsertPortalLink(l PortalLink) error
	// RevokePortalLink sets the link's revocation time (not_found if there is no such link).
	RevokePortalLink(id string, at time.Time) error
}

// PortalReader holds the portal-link reads.
type PortalReader interface {
	GetPortalLink(ctx context.Context, id string) (PortalLink, error)
	// ListPortalLinks returns the links, newest first.
	ListPortalLinks(ctx context.Context, limit int) ([]PortalLink, error)
}

// CreatePortalLink creates a link to one endpoint (agent == false) or to every endpoint of
// the endpoint's agent, valid for ttl (0: the default).
func (o *Deliveries) CreatePortalLink(ctx context.Context, endpointID string, agent bool, ttl time.Duration) (PortalLink, error) {
	if ttl < 0 || ttl > MaxPortalLinkTTL {
		return PortalLink{}, Errorf(CodeInvalidArgument, "expires_in_s must be between 1 and %d", int(MaxPortalLinkTTL/time.Second))
	}
	if ttl == 0 {
		ttl = DefaultPortalLinkTTL
	}
	e, err := o.svc.store.GetEndpoint(ctx, endpointID)
	if err != nil {
		return PortalLink{}, err
	}
	now := o.svc.now()
	l := PortalLink{ID: ids.New("pl", now), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if agent {
		if e.AgentID == "" {
			return PortalLink{}, Errorf(CodeFailedPrecond, "endpoint %q is workspace-level: it has no agent", endpointID)
		}
		l.AgentID = e.AgentID
	} else {
		l.EndpointID = e.ID
	}
	if err := o.svc.store.Write(ctx, func(tx Tx) error { return tx.InsertPortalLink(l) }); err != nil {
		return PortalLink{}, err
	}
	return l, nil
}

// CreateAgentPortalLink creates a link to every endpoint of an agent user.
func (o *Deliveries) CreateAgentPortalLink(ctx context.Context, agentID string, ttl time.Duration) (PortalLink, error) {
	if ttl < 0 || ttl > MaxPortalLinkTTL {
		return PortalLink{}, Errorf(CodeInvalidArgument, "expires_in_s must be between 1 and %d", int(MaxPortalLinkTTL/time.Second))
	}
	if ttl == 0 {
		ttl = DefaultPortalLinkTTL
	}
	u, err := o.svc.store.GetUser(ctx, agentID, o.svc.now())
	if err != nil {
		return PortalLink{}, err
	}
	if u.Kind != KindAgent {
		return PortalLink{}, Errorf(CodeInvalidArgument, "user %q is not of kind agent", agentID)
	}
	now := o.svc.now()
	l := PortalLink{ID: ids.New("pl", now), AgentID: agentID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := o.svc.store.Write(ctx, func(tx Tx) error { return tx.InsertPortalLink(l) }); err != nil {
		return PortalLink{}, err
	}
	return l, nil
}

// ActivePortalLink returns the link if it is neither revoked nor expired; otherwise a
// permission_denied error that does not say which.
func (o *Deliveries) ActivePortalLink(ctx context.Context, id string) (PortalLink, error) {
	l, err := o.svc.store.GetPortalLink(ctx, id)
	if err != nil {
		if IsCode(err, CodeNotFound) {
			return PortalLink{}, Errorf(CodePermissionDenied, "this portal link is not valid")
		}
		return PortalLink{}, err
	}
	if l.RevokedAt != nil || !o.svc.now().Before(l.ExpiresAt) {
		return PortalLink{}, Errorf(CodePermissionDenied, "this portal link has expired or was revoked")
	}
	return l, nil
}

// RevokePortalLink revokes a link at once.
func (o *Deliveries) RevokePortalLink(ctx context.Context, id string) error {
	now := o.svc.now()
	return o.svc.store.Write(ctx, func(tx Tx) error { return tx.RevokePortalLink(id, now) })
}

// PortalEndpoints returns the endpoints a link covers, by id.
func (o *Deliveries) PortalEndpoints(ctx context.Context, l PortalLink) ([]Endpoint, error) {
	if l.EndpointID != "" {
		e, err := o.svc.store.GetEndpoint(ctx, l.EndpointID)
		if err != nil {
			if IsCode(err, CodeNotFound) {
				return []Endpoint{}, nil
			}
			return nil, err
		}
		return []Endpoint{e}, nil
	}
	all, err := o.svc.store.ListEndpoints(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	out := []Endpoint{}
	for _, e := range all {
		if l.Covers(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// ListPortalLinks lists the links, newest first.
func (o *Deliveries) ListPortalLinks(ctx context.Context) ([]PortalLink, error) {
	return o.svc.store.ListPortalLinks(ctx, MaxPage)
}
