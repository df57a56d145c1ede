package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chathooks/chathooks/internal/chat"
)

// postRoutes are the routes (method and path label) whose successful requests each post
// one message.
var postRoutes = map[string]bool{
	"POST /api/v1/rooms/{id}/messages":   true,
	"POST /incomingwebhooks/{id}":        true,
	"POST /v1/spaces/{space}/messages":   true,
	"POST /services/{room}/{id}/{token}": true,
	"POST /hooks/{token}":                true,
}

// Stats is what the dashboard polls: cumulative counters (the page derives rates from
// successive samples) read from the same collectors /metrics serves, and each endpoint's
// backlog read from the database.
type Stats struct {
	At               time.Time          `json:"at"`
	Posts            float64            `json:"posts"`
	Requests         float64            `json:"requests"`
	ServerErrors     float64            `json:"server_errors"`
	Attempts         map[string]float64 `json:"attempts"` // by outcome
	AttemptLatencyMS float64            `json:"attempt_latency_avg_ms"`
	AttemptLatencyN  float64            `json:"attempt_latency_count"`
	AttemptLatencyS  float64            `json:"attempt_latency_sum_s"`
	// SlotSeconds is, by endpoint id, the time this node's attempts held the endpoint's
	// in-flight slots (cumulative): its rate over the endpoint's max_in_flight is how full
	// they were.
	SlotSeconds map[string]float64 `json:"slot_seconds"`
	Endpoints   []EndpointHealth   `json:"endpoints"`
}

// EndpointHealth is one endpoint's backlog. Counts stop at BacklogCap (Capped says so);
// OldestS is the age of the oldest undelivered delivery counted, the endpoint's lag.
type EndpointHealth struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Status string `json:"status"`
	// MaxInFlight is how many deliveries the endpoint takes at once (from each node).
	MaxInFlight int     `json:"max_in_flight"`
	Pending     int     `json:"pending"`
	Failed      int     `json:"failed"`
	Dead        int     `json:"dead"`
	Capped      bool    `json:"capped"`
	OldestS     float64 `json:"oldest_s"`
}

// BacklogCap bounds each per-status count the dashboard reads per endpoint; MaxHealthEndpoints
// bounds how many endpoints it reads; HealthTTL is how long one reading serves every open
// dashboard (the counters are read fresh each time, the database at most this often).
const (
	BacklogCap         = 200
	MaxHealthEndpoints = 25
	HealthTTL          = 5 * time.Second
)

// healthCache holds the last endpoint-health reading. mu guards both fields; a reading is
// taken with mu held, so concurrent dashboards wait for one reading instead of each
// querying the database.
type healthCache struct {
	mu  sync.Mutex
	at  time.Time
	eps []EndpointHealth
}

func (c *Console) stats(w http.ResponseWriter, r *http.Request) {
	s := Stats{At: c.o.Clock.Now().UTC(), Attempts: map[string]float64{}, SlotSeconds: map[string]float64{}, Endpoints: []EndpointHealth{}}
	fams, err := c.o.Metrics.Registry.Gather()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "cannot read metrics")
		return
	}
	for _, f := range fams {
		switch f.GetName() {
		case "chathooks_http_requests_total":
			for _, m := range f.GetMetric() {
				v := m.GetCounter().GetValue()
				s.Requests += v
				code := label(m, "code")
				if strings.HasPrefix(code, "5") {
					s.ServerErrors += v
				}
				if strings.HasPrefix(code, "2") && postRoutes[label(m, "method")+" "+label(m, "route")] {
					s.Posts += v
				}
			}
		case "chathooks_delivery_attempts_total":
			for _, m := range f.GetMetric() {
				s.Attempts[label(m, "outcome")] += m.GetCounter().GetValue()
			}
		case "chathooks_delivery_slot_seconds_total":
			for _, m := range f.GetMetric() {
				s.SlotSeconds[label(m, "endpoint_id")] += m.GetCounter().GetValue()
			}
		case "chathooks_delivery_attempt_duration_seconds":
			for _, m := range f.GetMetric() {
				h := m.GetHistogram()
				s.AttemptLatencyN, s.AttemptLatencyS = float64(h.GetSampleCount()), h.GetSampleSum()
				if h.GetSampleCount() > 0 {
					s.AttemptLatencyMS = 1000 * h.GetSampleSum() / float64(h.GetSampleCount())
				}
			}
		}
	}
	if c.o.Deliveries != nil {
		if s.Endpoints, err = c.cachedHealth(r.Context(), s.At); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", chat.ErrorMessage(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, s)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (c *Console) cachedHealth(ctx context.Context, now time.Time) ([]EndpointHealth, error) {
	hc := &c.healthCache
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.eps != nil && now.Sub(hc.at) < HealthTTL && !now.Before(hc.at) {
		return hc.eps, nil
	}
	eps, err := c.health(ctx, now)
	if err != nil {
		return nil, err
	}
	hc.at, hc.eps = now, eps
	return eps, nil
}

// health reads each endpoint's undelivered deliveries (bounded) for the dashboard.
func (c *Console) health(ctx context.Context, now time.Time) ([]EndpointHealth, error) {
	eps, err := c.o.Deliveries.ListEndpoints(ctx, "", MaxHealthEndpoints)
	if err != nil {
		return nil, err
	}
	out := make([]EndpointHealth, 0, len(eps))
	for _, e := range eps {
		h := EndpointHealth{ID: e.ID, URL: e.URL, Status: e.Status, MaxInFlight: e.MaxInFlight}
		for _, st := range []string{chat.DeliveryPending, chat.DeliveryFailed, chat.DeliveryDead} {
			ds, err := c.o.Deliveries.ListDeliveries(ctx, chat.DeliveryQuery{EndpointID: e.ID, Status: st, Limit: BacklogCap})
			if err != nil {
				return nil, err
			}
			if len(ds) >= BacklogCap {
				h.Capped = true
			}
			switch st {
			case chat.DeliveryPending:
				h.Pending = len(ds)
			case chat.DeliveryFailed:
				h.Failed = len(ds)
			case chat.DeliveryDead:
				h.Dead = len(ds)
			}
			if st != chat.DeliveryDead && len(ds) > 0 {
				// Newest first: the last one read is the oldest.
				if age := now.Sub(ds[len(ds)-1].CreatedAt).Seconds(); age > h.OldestS {
					h.OldestS = age
				}
			}
		}
		out = append(out, h)
	}
	return out, nil
}
