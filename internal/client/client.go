// Package client is a small HTTP client for a running chathooks server's /api/v1, used by
// the operator commands of the CLI. It decodes into the server's own types, so it cannot
// drift from what the server sends.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
)

// Client talks to one server with the admin token.
type Client struct {
	base  string // e.g. http://127.0.0.1:8080, without a trailing slash
	token string
	http  *http.Client // for requests with an answer; streams use streamHTTP
	// streamHTTP has no overall timeout: a live stream stays open indefinitely.
	streamHTTP *http.Client
}

// New returns a client for the server at base (http://host:port) authenticating with token.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http://host:port or https://host", base)
	}
	return &Client{
		base:       strings.TrimRight(base, "/"),
		token:      token,
		http:       &http.Client{Timeout: 30 * time.Second},
		streamHTTP: &http.Client{},
	}, nil
}

// Error is an error answer of the API.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// do sends a request to /api/v1+path with in as JSON (nil: no body) and decodes the answer
// into out (nil: ignored).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+api.Prefix+path, body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("client: reading the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

func decodeError(status int, body []byte) error {
	var e api.ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return &Error{Status: status, Code: e.Error.Code, Message: e.Error.Message}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Page selects one page of a list.
type Page struct {
	Cursor string
	Limit  int
}

func (p Page) query(v url.Values) string {
	if p.Cursor != "" {
		v.Set("cursor", p.Cursor)
	}
	if p.Limit > 0 {
		v.Set("limit", fmt.Sprint(p.Limit))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// Rooms lists rooms.
func (c *Client) Rooms(ctx context.Context, p Page) (api.List[chat.Room], error) {
	var out api.List[chat.Room]
	err := c.do(ctx, http.MethodGet, "/rooms"+p.query(url.Values{}), nil, &out)
	return out, err
}

// CreateRoom is the body of a room creation.
type CreateRoom struct {
	ID        string   `json:"id,omitempty"`
	Name      string   `json:"name"`
	CreatorID string   `json:"creator_id,omitempty"`
	MemberIDs []string `json:"member_ids,omitempty"`
}

// CreateRoom creates a room.
func (c *Client) CreateRoom(ctx context.Context, in CreateRoom) (chat.Room, error) {
	var out chat.Room
	err := c.do(ctx, http.MethodPost, "/rooms", in, &out)
	return out, err
}

// Settings gets the workspace settings.
func (c *Client) Settings(ctx context.Context) (chat.SettingsView, error) {
	var out chat.SettingsView
	err := c.do(ctx, http.MethodGet, "/settings", nil, &out)
	return out, err
}

// SettingsPatch changes workspace settings; nil fields stay.
type SettingsPatch struct {
	AlertsRoomID *string `json:"alerts_room_id,omitempty"`
}

// UpdateSettings changes the workspace settings.
func (c *Client) UpdateSettings(ctx context.Context, in SettingsPatch) (chat.SettingsView, error) {
	var out chat.SettingsView
	err := c.do(ctx, http.MethodPatch, "/settings", in, &out)
	return out, err
}

// Room gets a room.
func (c *Client) Room(ctx context.Context, id string) (chat.Room, error) {
	var out chat.Room
	err := c.do(ctx, http.MethodGet, "/rooms/"+url.PathEscape(id), nil, &out)
	return out, err
}

// CreateWebhook creates an incoming webhook in a room; the answer has its token and URLs.
func (c *Client) CreateWebhook(ctx context.Context, room, name, avatarURL string) (api.Webhook, error) {
	var out api.Webhook
	in := map[string]string{"name": name}
	if avatarURL != "" {
		in["avatar_url"] = avatarURL
	}
	err := c.do(ctx, http.MethodPost, "/rooms/"+url.PathEscape(room)+"/webhooks", in, &out)
	return out, err
}

// Webhooks lists a room's incoming webhooks (without tokens).
func (c *Client) Webhooks(ctx context.Context, room string) (api.List[api.Webhook], error) {
	var out api.List[api.Webhook]
	err := c.do(ctx, http.MethodGet, "/rooms/"+url.PathEscape(room)+"/webhooks", nil, &out)
	return out, err
}

// RegenerateWebhook issues a new token for a webhook; the old URLs stop working.
func (c *Client) RegenerateWebhook(ctx context.Context, id string) (api.Webhook, error) {
	var out api.Webhook
	err := c.do(ctx, http.MethodPost, "/webhooks/"+url.PathEscape(id)+"/regenerate", nil, &out)
	return out, err
}

// DeleteWebhook deletes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/webhooks/"+url.PathEscape(id), nil, nil)
}

// CreateEndpoint is the body of an endpoint creation (the fields the CLI sets).
type CreateEndpoint struct {
	URL         string   `json:"url"`
	Format      string   `json:"format,omitempty"`
	EventTypes  []string `json:"event_types"`
	Secret      string   `json:"secret,omitempty"`
	Description string   `json:"description,omitempty"`
	AgentID     string   `json:"agent_id,omitempty"`
	RoomIDs     []string `json:"room_ids,omitempty"`
	Ordering    string   `json:"ordering,omitempty"`
}

// CreateEndpoint creates an outgoing endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, in CreateEndpoint) (chat.EndpointView, error) {
	var out chat.EndpointView
	err := c.do(ctx, http.MethodPost, "/endpoints", in, &out)
	return out, err
}

// Endpoints lists endpoints.
func (c *Client) Endpoints(ctx context.Context, p Page) (api.List[chat.EndpointView], error) {
	var out api.List[chat.EndpointView]
	err := c.do(ctx, http.MethodGet, "/endpoints"+p.query(url.Values{}), nil, &out)
	return out, err
}

// Deliveries lists an endpoint's deliveries, newest first; status "" means any.
func (c *Client) Deliveries(ctx context.Context, endpoint, status string, p Page) (api.List[chat.Delivery], error) {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	var out api.List[chat.Delivery]
	err := c.do(ctx, http.MethodGet, "/endpoints/"+url.PathEscape(endpoint)+"/deliveries"+p.query(v), nil, &out)
	return out, err
}

// Delivery gets a delivery with every attempt.
func (c *Client) Delivery(ctx context.Context, id string) (chat.DeliveryDetail, error) {
	var out chat.DeliveryDetail
	err := c.do(ctx, http.MethodGet, "/deliveries/"+url.PathEscape(id), nil, &out)
	return out, err
}

// RetryDelivery attempts a delivery again now.
func (c *Client) RetryDelivery(ctx context.Context, id string) (chat.Delivery, error) {
	var out chat.Delivery
	err := c.do(ctx, http.MethodPost, "/deliveries/"+url.PathEscape(id)+"/retry", nil, &out)
	return out, err
}

// Replay re-sends every matching event since a time to an endpoint.
func (c *Client) Replay(ctx context.Context, endpoint string, since time.Time) (api.ReplayResult, error) {
	var out api.ReplayResult
	err := c.do(ctx, http.MethodPost, "/endpoints/"+url.PathEscape(endpoint)+"/replay", map[string]any{"since": since.UTC()}, &out)
	return out, err
}

// Send posts a message to a room as a user.
func (c *Client) Send(ctx context.Context, room, sender, text, thread string) (chat.Message, error) {
	in := map[string]string{"sender_id": sender, "text": text}
	if thread != "" {
		in["thread_id"] = thread
	}
	var out chat.Message
	err := c.do(ctx, http.MethodPost, "/rooms/"+url.PathEscape(room)+"/messages", in, &out)
	return out, err
}
