package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
)

// PortalHeader carries the portal link's token on every portal API call. A header, not a
// cookie: a page from another site cannot make the browser send it (no CSRF), and links
// to several endpoints can be open side by side.
const PortalHeader = "X-Portal-Token"

// LinkToken is the signed token of a portal link: its id and an HMAC of it.
func (c *Console) LinkToken(id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(c.linkMAC(id))
}

// LinkURL is the portal URL of a link.
func (c *Console) LinkURL(l chat.PortalLink) string {
	base := ""
	if c.o.BaseURL != nil {
		base = strings.TrimRight(c.o.BaseURL(), "/")
	}
	return base + "/portal/" + c.LinkToken(l.ID)
}

func (c *Console) linkMAC(id string) []byte {
	m := hmac.New(sha256.New, c.o.LinkKey)
	m.Write([]byte("portal link\x00"))
	m.Write([]byte(id))
	return m.Sum(nil)
}

// errBadLink is every refusal of a link: the portal does not say whether a link was
// forged, revoked or expired.
var errBadLink = chat.Errorf(chat.CodePermissionDenied, "this portal link is not valid: it may have expired or been revoked; ask for a new one")

// link verifies a token's signature, then that its link is still active.
func (c *Console) link(ctx context.Context, token string) (chat.PortalLink, error) {
	id, sig, ok := strings.Cut(token, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, c.linkMAC(id)) {
		return chat.PortalLink{}, errBadLink
	}
	if c.o.Deliveries == nil {
		return chat.PortalLink{}, chat.Errorf(chat.CodeUnavailable, "outgoing webhooks are unavailable")
	}
	l, err := c.o.Deliveries.ActivePortalLink(ctx, id)
	if chat.IsCode(err, chat.CodePermissionDenied) {
		return chat.PortalLink{}, errBadLink
	}
	return l, err
}

// portalPage serves the portal shell, or an explanation if the link is not valid.
func (c *Console) portalPage(w http.ResponseWriter, r *http.Request) {
	if _, err := c.link(r.Context(), r.PathValue("token")); err != nil {
		status := api.Status(chat.ErrorCode(err))
		c.render(w, status, c.invalid, pageData{Title: "Link not valid", Error: chat.ErrorMessage(err), Page: "invalid"})
		return
	}
	c.render(w, http.StatusOK, c.portal, pageData{Title: "Webhook portal", Page: "portal"})
}

// PortalEndpoint is an endpoint as its owner sees it in the portal: never its secret.
type PortalEndpoint struct {
	ID                string     `json:"id"`
	URL               string     `json:"url"`
	Description       string     `json:"description"`
	AgentID           string     `json:"agent_id,omitempty"`
	EventTypes        []string   `json:"event_types"`
	Format            string     `json:"format"`
	Status            string     `json:"status"`
	PreviousExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
}

func portalEndpoint(v chat.EndpointView) PortalEndpoint {
	return PortalEndpoint{ID: v.ID, URL: v.URL, Description: v.Description, AgentID: v.AgentID, EventTypes: v.EventTypes,
		Format: v.Format, Status: v.Status, PreviousExpiresAt: v.PreviousExpiresAt, CreatedAt: v.CreatedAt}
}

type portalCtx struct {
	link chat.PortalLink
}

// portalHandler is a portal API handler: it runs only for a valid link.
type portalHandler func(w http.ResponseWriter, r *http.Request, pc portalCtx) error

// portalAPI is the whole API the portal can reach. Every operation names an endpoint or a
// delivery, and is refused unless the link covers that endpoint.
func (c *Console) portalAPI() http.HandlerFunc {
	mux := http.NewServeMux()
	handle := func(pattern string, h portalHandler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			l, err := c.link(r.Context(), r.Header.Get(PortalHeader))
			if err == nil {
				err = h(w, r, portalCtx{link: l})
			}
			if err != nil {
				code := chat.ErrorCode(err)
				msg := chat.ErrorMessage(err)
				if code == chat.CodeInternal {
					c.o.Log.ErrorContext(r.Context(), "portal request failed", "error", err)
					msg = "internal error"
				}
				writeError(w, api.Status(code), string(code), msg)
			}
		})
	}
	handle("GET /portal/api/session", c.portalSession)
	handle("GET /portal/api/event-types", func(w http.ResponseWriter, r *http.Request, _ portalCtx) error {
		writeJSON(w, http.StatusOK, map[string]any{"items": api.EventExamples(c.o.Clock.Now())})
		return nil
	})
	handle("GET /portal/api/endpoints/{id}/deliveries", c.portalDeliveries)
	handle("GET /portal/api/deliveries/{id}", c.portalDelivery)
	handle("POST /portal/api/deliveries/{id}/retry", c.portalRetry)
	handle("POST /portal/api/endpoints/{id}/test", c.portalTest)
	handle("POST /portal/api/endpoints/{id}/replay", c.portalReplay)
	handle("POST /portal/api/endpoints/{id}/rotate-secret", c.portalRotate)
	mux.HandleFunc("/portal/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such portal operation")
	})
	return mux.ServeHTTP
}

// endpoint returns the endpoint named in the path if the link covers it. An endpoint the
// link does not cover is "not found": the portal reveals nothing of other endpoints.
func (c *Console) endpoint(ctx context.Context, pc portalCtx, id string) (chat.EndpointView, error) {
	notFound := chat.Errorf(chat.CodeNotFound, "endpoint %q not found", id)
	v, err := c.o.Deliveries.GetEndpoint(ctx, id)
	if err != nil {
		if chat.IsCode(err, chat.CodeNotFound) {
			return chat.EndpointView{}, notFound
		}
		return chat.EndpointView{}, err
	}
	if !pc.link.Covers(chat.Endpoint{ID: v.ID, AgentID: v.AgentID}) {
		return chat.EndpointView{}, notFound
	}
	return v, nil
}

func (c *Console) delivery(ctx context.Context, pc portalCtx, id string) (chat.DeliveryDetail, error) {
	d, err := c.o.Deliveries.GetDelivery(ctx, id)
	if err != nil {
		return chat.DeliveryDetail{}, err
	}
	if _, err := c.endpoint(ctx, pc, d.EndpointID); err != nil {
		return chat.DeliveryDetail{}, chat.Errorf(chat.CodeNotFound, "delivery %q not found", id)
	}
	return d, nil
}

func (c *Console) portalSession(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	eps, err := c.o.Deliveries.PortalEndpoints(r.Context(), pc.link)
	if err != nil {
		return err
	}
	out := make([]PortalEndpoint, 0, len(eps))
	for _, e := range eps {
		v, err := c.o.Deliveries.GetEndpoint(r.Context(), e.ID)
		if err != nil {
			return err
		}
		out = append(out, portalEndpoint(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"link":      map[string]any{"id": pc.link.ID, "agent_id": pc.link.AgentID, "endpoint_id": pc.link.EndpointID, "expires_at": pc.link.ExpiresAt},
		"endpoints": out,
	})
	return nil
}

func (c *Console) portalDeliveries(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	if _, err := c.endpoint(r.Context(), pc, r.PathValue("id")); err != nil {
		return err
	}
	qs := r.URL.Query()
	q := chat.DeliveryQuery{EndpointID: r.PathValue("id"), Status: qs.Get("status"), Before: qs.Get("cursor"), Limit: 50}
	var ds []chat.Delivery
	var next string
	var err error
	if t := qs.Get("event_type"); t != "" {
		ds, next, err = c.o.Deliveries.ListDeliveriesOfType(r.Context(), q, t)
	} else {
		ds, err = c.o.Deliveries.ListDeliveries(r.Context(), q)
		if len(ds) == q.Limit {
			next = ds[len(ds)-1].ID
		}
	}
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []chat.Delivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ds, "next_cursor": next})
	return nil
}

func (c *Console) portalDelivery(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	d, err := c.delivery(r.Context(), pc, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (c *Console) portalRetry(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	if _, err := c.delivery(r.Context(), pc, r.PathValue("id")); err != nil {
		return err
	}
	d, err := c.o.Deliveries.RetryDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// decode reads a small optional JSON body.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return chat.Errorf(chat.CodeInvalidArgument, "cannot read the body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return chat.Errorf(chat.CodeInvalidArgument, "invalid JSON body: %v", err)
	}
	return nil
}

func (c *Console) portalTest(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	if _, err := c.endpoint(r.Context(), pc, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		EventType string `json:"event_type"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := c.o.Deliveries.SendTestEvent(r.Context(), r.PathValue("id"), in.EventType)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (c *Console) portalReplay(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	if _, err := c.endpoint(r.Context(), pc, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		Since time.Time `json:"since"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Since.IsZero() {
		return chat.Errorf(chat.CodeInvalidArgument, "since is required (RFC 3339 time)")
	}
	n, err := c.o.Deliveries.Replay(r.Context(), r.PathValue("id"), in.Since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint_id": r.PathValue("id"), "since": in.Since.UTC(), "deliveries": n})
	return nil
}

// portalRotate replaces the secret and shows the new one in this answer only.
func (c *Console) portalRotate(w http.ResponseWriter, r *http.Request, pc portalCtx) error {
	if _, err := c.endpoint(r.Context(), pc, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		ExpireOldAfterS *int `json:"expire_old_after_s"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	var overlap *time.Duration
	if in.ExpireOldAfterS != nil {
		if *in.ExpireOldAfterS < 0 {
			return chat.Errorf(chat.CodeInvalidArgument, "expire_old_after_s must not be negative")
		}
		d := time.Duration(*in.ExpireOldAfterS) * time.Second
		overlap = &d
	}
	v, err := c.o.Deliveries.RotateSecret(r.Context(), r.PathValue("id"), "", overlap)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint": portalEndpoint(v), "secret": v.Secret})
	return nil
}
