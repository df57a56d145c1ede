package chat

import (
	"context"
	"slices"
)

// SendbirdEndpointID is the workspace-level sendbird endpoint managed by Sendbird's
// settings API (GET/PUT /v3/applications/settings/webhook).
const SendbirdEndpointID = "ep_sendbird_settings"

// SendbirdWebhook is the "webhook" object of Sendbird's settings API.
type SendbirdWebhook struct {
	Enabled        bool     `json:"enabled"`
	URL            string   `json:"url"`
	IncludeMembers bool     `json:"include_members"`
	EnabledEvents  []string `json:"enabled_events"`
}

// SendbirdWebhookPatch is the PUT body; absent fields stay.
type SendbirdWebhookPatch struct {
	Enabled        *bool     `json:"enabled,omitempty"`
	URL            *string   `json:"url,omitempty"`
	IncludeMembers *bool     `json:"include_members,omitempty"`
	EnabledEvents  *[]string `json:"enabled_events,omitempty"`
}

// SendbirdSettings returns the settings-API endpoint as Sendbird shows it.
func (o *Deliveries) SendbirdSettings(ctx context.Context) (SendbirdWebhook, error) {
	e, err := o.svc.store.GetEndpoint(ctx, SendbirdEndpointID)
	if IsCode(err, CodeNotFound) {
		return SendbirdWebhook{EnabledEvents: []string{}}, nil
	}
	if err != nil {
		return SendbirdWebhook{}, err
	}
	return sendbirdView(e), nil
}

func sendbirdView(e Endpoint) SendbirdWebhook {
	evs := e.EventTypes
	if e.Status == EndpointDisabled && len(evs) == 0 {
		evs = []string{}
	}
	return SendbirdWebhook{Enabled: e.Status != EndpointDisabled, URL: e.URL, IncludeMembers: e.IncludeMembers, EnabledEvents: slices.Clone(evs)}
}

// PutSendbirdSettings creates or changes the settings-API endpoint. As Sendbird signs with
// the master API token, the endpoint's secret is the Api-Token the request was made with
// (kept encrypted). enabled_events [] turns webhooks off.
func (o *Deliveries) PutSendbirdSettings(ctx context.Context, p SendbirdWebhookPatch, apiToken string) (SendbirdWebhook, error) {
	cur, err := o.svc.store.GetEndpoint(ctx, SendbirdEndpointID)
	exists := err == nil
	if err != nil && !IsCode(err, CodeNotFound) {
		return SendbirdWebhook{}, err
	}
	w := SendbirdWebhook{EnabledEvents: []string{}}
	if exists {
		w = sendbirdView(cur)
	}
	if p.Enabled != nil {
		w.Enabled = *p.Enabled
	}
	if p.URL != nil {
		w.URL = *p.URL
	}
	if p.IncludeMembers != nil {
		w.IncludeMembers = *p.IncludeMembers
	}
	if p.EnabledEvents != nil {
		w.EnabledEvents = slices.Clone(*p.EnabledEvents)
		if len(w.EnabledEvents) == 0 {
			w.Enabled = false
		}
	}
	if w.URL == "" {
		if w.Enabled {
			return SendbirdWebhook{}, Errorf(CodeInvalidArgument, "url is required to enable webhooks")
		}
		if !exists {
			return w, nil
		}
	}
	types := w.EnabledEvents
	if len(types) == 0 {
		types = []string{"*"} // kept while disabled; the view shows []
	}
	if err := validEventTypes(types); err != nil {
		return SendbirdWebhook{}, err
	}
	status := EndpointActive
	if !w.Enabled {
		status = EndpointDisabled
	}
	if !exists {
		_, err := o.CreateEndpoint(ctx, EndpointInput{
			ID: SendbirdEndpointID, URL: w.URL, Description: "Sendbird settings API webhook", EventTypes: types,
			Format: FormatSendbird, Secret: apiToken, IncludeMembers: w.IncludeMembers,
		})
		if err != nil {
			return SendbirdWebhook{}, err
		}
		if status == EndpointDisabled {
			if _, err := o.UpdateEndpoint(ctx, SendbirdEndpointID, EndpointPatch{Status: &status}); err != nil {
				return SendbirdWebhook{}, err
			}
		}
	} else {
		if _, err := o.UpdateEndpoint(ctx, SendbirdEndpointID, EndpointPatch{
			URL: &w.URL, EventTypes: types, IncludeMembers: &w.IncludeMembers, Status: &status,
		}); err != nil {
			return SendbirdWebhook{}, err
		}
		if apiToken != "" {
			sec, err := o.currentSecret(ctx, SendbirdEndpointID)
			if err != nil {
				return SendbirdWebhook{}, err
			}
			if sec != apiToken {
				zero := 0 * DefaultRotateOverlap
				if _, err := o.RotateSecret(ctx, SendbirdEndpointID, apiToken, &zero); err != nil {
					return SendbirdWebhook{}, err
				}
			}
		}
	}
	return o.SendbirdSettings(ctx)
}

func (o *Deliveries) currentSecret(ctx context.Context, id string) (string, error) {
	v, err := o.GetEndpoint(ctx, id)
	return v.Secret, err
}
