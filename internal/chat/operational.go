package chat

import (
	"net/url"
	"slices"
	"time"
)

// Operational event types: the health of the endpoints themselves, delivered like chat
// events to the endpoints that name them in event_types. "*" (every chat event) does not
// include them: a receiver opts in to each.
const (
	EventEndpointFailing   = "endpoint:failing"
	EventEndpointRecovered = "endpoint:recovered"
	EventEndpointDisabled  = "endpoint:disabled"
	EventDeliveryDead      = "delivery:dead"
)

// OperationalEventTypes lists the operational event types in catalog order.
var OperationalEventTypes = []string{EventEndpointFailing, EventEndpointRecovered, EventEndpointDisabled, EventDeliveryDead}

// IsOperational reports whether typ is an operational event type.
func IsOperational(typ string) bool { return slices.Contains(OperationalEventTypes, typ) }

// KnownEventType reports whether typ is a chat or an operational event type.
func KnownEventType(typ string) bool { return slices.Contains(EventTypes, typ) || IsOperational(typ) }

// AllEventTypes lists every event type: the chat ones, then the operational ones.
func AllEventTypes() []string { return slices.Concat(EventTypes, OperationalEventTypes) }

// EndpointRef is an endpoint as operational events carry it.
type EndpointRef struct {
	ID          string `json:"id"`
	URL         string `json:"url" doc:"scheme, host and path only (chat formats: redacted)"`
	Description string `json:"description,omitempty"`
	Format      string `json:"format"`
}

// DeliveryRef is a delivery as delivery:dead carries it.
type DeliveryRef struct {
	ID           string `json:"id"`
	EventID      string `json:"event_id"`
	EventType    string `json:"event_type"`
	AttemptCount int    `json:"attempt_count"`
}

// Reasons an endpoint is disabled.
const (
	ReasonGone   = "gone"   // it answered 410 Gone
	ReasonManual = "manual" // PATCH status disabled (API or console)
)

type (
	// EndpointHealthPayload: endpoint:failing, endpoint:recovered, endpoint:disabled.
	EndpointHealthPayload struct {
		Endpoint EndpointRef `json:"endpoint"`
		// Reason is why: endpoint:failing "circuit_open"; endpoint:disabled "gone" or
		// "manual"; endpoint:recovered "succeeded".
		Reason     string    `json:"reason" enum:"circuit_open,succeeded,gone,manual"`
		StatusCode int       `json:"last_status_code,omitempty" doc:"the status code of the attempt that caused the change"`
		Error      string    `json:"last_error,omitempty" doc:"its error, if any"`
		At         time.Time `json:"at"`
		ConsoleURL string    `json:"console_url" doc:"the endpoint's page in the web console"`
	}
	// DeliveryDeadPayload: delivery:dead.
	DeliveryDeadPayload struct {
		Endpoint   EndpointRef `json:"endpoint"`
		Delivery   DeliveryRef `json:"delivery"`
		StatusCode int         `json:"last_status_code,omitempty"`
		Error      string      `json:"last_error,omitempty"`
		// Suppressed counts this endpoint's dead deliveries not announced since the previous
		// delivery:dead (over the rate limit, DeadAlertsPerMinute).
		Suppressed int       `json:"suppressed,omitempty"`
		At         time.Time `json:"at"`
		ConsoleURL string    `json:"console_url" doc:"the delivery in the endpoint's delivery log in the web console"`
	}
)

// Reasons of endpoint health events.
const (
	ReasonCircuitOpen = "circuit_open"
	ReasonSucceeded   = "succeeded"
)

// endpointRef is how operational events show an endpoint: its URL without query or user
// information (a chat target's URL is stored redacted already).
func endpointRef(e Endpoint) EndpointRef {
	u := e.URL
	if p, err := url.Parse(e.URL); err == nil {
		u = p.Scheme + "://" + p.Host + p.Path
	}
	return EndpointRef{ID: e.ID, URL: u, Description: e.Description, Format: e.Format}
}

// ConsoleEndpointPath is the console's page of an endpoint; with a delivery id, the page
// opens that delivery in the endpoint's delivery log.
func ConsoleEndpointPath(endpointID, deliveryID string) string {
	p := "/endpoints/" + url.PathEscape(endpointID)
	if deliveryID != "" {
		p += "?delivery=" + url.QueryEscape(deliveryID)
	}
	return p
}

// examples of operational payloads (the event catalog, test events, template checks).
func operationalExample(eventType string, now time.Time) any {
	ep := EndpointRef{ID: "ep_example", URL: "https://hooks.example.com/chat", Description: "Incident bot", Format: FormatStandard}
	link := "http://127.0.0.1:8080" + ConsoleEndpointPath(ep.ID, "")
	switch eventType {
	case EventEndpointFailing:
		return EndpointHealthPayload{Endpoint: ep, Reason: ReasonCircuitOpen, StatusCode: 503, Error: "Service Unavailable", At: now, ConsoleURL: link}
	case EventEndpointRecovered:
		return EndpointHealthPayload{Endpoint: ep, Reason: ReasonSucceeded, StatusCode: 200, At: now, ConsoleURL: link}
	case EventEndpointDisabled:
		return EndpointHealthPayload{Endpoint: ep, Reason: ReasonGone, StatusCode: 410, Error: "410 Gone: the endpoint is disabled", At: now, ConsoleURL: link}
	case EventDeliveryDead:
		return DeliveryDeadPayload{Endpoint: ep, Delivery: DeliveryRef{ID: "dlv_example", EventID: "evt_example", EventType: EventMessageSend, AttemptCount: 8},
			StatusCode: 500, Error: "Internal Server Error", At: now, ConsoleURL: "http://127.0.0.1:8080" + ConsoleEndpointPath(ep.ID, "dlv_example")}
	}
	return nil
}
