package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/delivery"
	"github.com/chathooks/chathooks/internal/egress"
	"github.com/chathooks/chathooks/internal/relay"
	"github.com/chathooks/chathooks/internal/secretbox"
	"github.com/chathooks/chathooks/internal/server"
)

// deliveryWiring is the outgoing-webhook wiring: the secret box, the delivery engine and the
// endpoint use cases. Built on first use (the publisher is needed before the service).
type deliveryWiring struct {
	once   sync.Once
	err    error
	box    *secretbox.Box
	engine *delivery.Engine
	client *http.Client
	svcMu  sync.Mutex
	svc    *chat.Deliveries
	// alerts announces endpoint failures; set once the chat service exists (the engine,
	// built before it, reaches it through this pointer).
	alerts atomic.Pointer[chat.Alerter]
}

func (a *App) initDeliveries() *deliveryWiring {
	o := &a.out
	o.once.Do(func() {
		box, err := a.secretBox(context.Background())
		if err != nil {
			o.err = fmt.Errorf("app: endpoint secret key: %w", err)
			return
		}
		o.box = box
		o.client = egress.NewClient(egress.Options{AllowPrivate: a.cfg.AllowPrivateTargets})
		o.engine = delivery.New(delivery.Options{
			Store: a.Store, Box: box, Transport: o.client.Transport, Clock: a.cfg.Clock, Log: a.log, Metrics: a.Metrics,
			AppID: box.InstallationID(), NodeID: a.nodeID,
			LeaseMargin: a.cfg.DeliveryLeaseMargin, Rescan: a.cfg.DeliveryRescan,
			OnChange: func(c chat.EndpointChange) {
				if al := o.alerts.Load(); al != nil {
					al.Notify(c)
				}
			},
		})
	})
	return o
}

// dispatcher is the delivery engine as the chat service sees it (nil if the key failed):
// deliveries the service writes are leased to this node and handed to the engine.
func (a *App) dispatcher() chat.Dispatcher {
	if o := a.initDeliveries(); o.engine != nil {
		return o.engine
	}
	return nil
}

// deliveriesService returns the endpoint and delivery use cases (nil if the key failed).
func (a *App) deliveriesService() *chat.Deliveries {
	o := a.initDeliveries()
	o.svcMu.Lock()
	defer o.svcMu.Unlock()
	if o.svc == nil && o.engine != nil && a.Service != nil {
		o.svc = chat.NewDeliveries(a.Service, chat.DeliveriesConfig{
			Box: o.box, Verifier: delivery.Verifier{Client: o.client}, Notifier: o.engine, Relay: relay.Renderer{},
			URLs: endpointURLs{allowPrivate: a.cfg.AllowPrivateTargets}, Secrets: endpointSecrets{}, Alerts: a.alerter(),
		})
	}
	return o.svc
}

// alerter returns the failure alerter, made on first use (after the chat service).
func (a *App) alerter() *chat.Alerter {
	o := &a.out
	if al := o.alerts.Load(); al != nil {
		return al
	}
	al := chat.NewAlerter(a.Service, a.consoleBaseURL)
	if o.alerts.CompareAndSwap(nil, al) {
		return al
	}
	return o.alerts.Load()
}

// consoleBaseURL is the base of the console links alerts carry: --base-url, else the
// address the server listens on.
func (a *App) consoleBaseURL() string {
	if a.ln == nil {
		return a.cfg.BaseURL
	}
	return a.URL()
}

// DeliveryEngine returns the delivery engine (tests poke it after moving a fake clock).
func (a *App) DeliveryEngine() *delivery.Engine { return a.initDeliveries().engine }

// apiDeliveries registers the endpoint and delivery operations under /api/v1.
func (a *App) apiDeliveries(humaAPI huma.API) {
	api.RegisterEndpoints(humaAPI, a.deliveriesService(), a.log)
}

// startDeliveries starts the delivery engine.
func (a *App) startDeliveries() error {
	o := a.initDeliveries()
	if o.err != nil {
		return o.err
	}
	a.alerter().Start()
	if err := o.engine.Start(context.Background()); err != nil {
		return fmt.Errorf("app: start delivery engine: %w", err)
	}
	return nil
}

// stopDeliveries stops the delivery engine, finishing in-flight deliveries within ctx, then
// the alerter once it wrote what the engine reported.
func (a *App) stopDeliveries(ctx context.Context) error {
	var err error
	if o := a.initDeliveries(); o.engine != nil {
		err = o.engine.Stop(ctx)
	}
	if al := a.out.alerts.Load(); al != nil {
		al.Stop(ctx)
	}
	return err
}

// sendbirdSettings serves GET/PUT /v3/applications/settings/webhook with Sendbird's
// Api-Token header (the admin token) and Sendbird's shapes.
type sendbirdSettings struct{ a *App }

func sendbirdError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": true, "message": msg, "code": code})
}

// ServeHTTP serves GET and PUT; the server's route table mounts it for both.
func (h sendbirdSettings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.Header.Get("Api-Token"))
	want, err := h.a.Store.AdminTokenHash(r.Context())
	if err != nil {
		sendbirdError(w, http.StatusServiceUnavailable, 500503, "the database is unavailable")
		return
	}
	if tok == "" || want == "" || subtle.ConstantTimeCompare([]byte(server.HashToken(tok)), []byte(want)) != 1 {
		sendbirdError(w, http.StatusUnauthorized, 400401, "Invalid value: \"Api-Token\".")
		return
	}
	svc := h.a.deliveriesService()
	if svc == nil {
		sendbirdError(w, http.StatusServiceUnavailable, 500503, "outgoing webhooks are unavailable")
		return
	}
	var wh chat.SendbirdWebhook
	if r.Method == http.MethodPut {
		var p chat.SendbirdWebhookPatch
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || (len(strings.TrimSpace(string(body))) > 0 && json.Unmarshal(body, &p) != nil) {
			sendbirdError(w, http.StatusBadRequest, 400100, "the body is not valid JSON")
			return
		}
		wh, err = svc.PutSendbirdSettings(r.Context(), p, tok)
		if err != nil {
			status, code := http.StatusBadRequest, 400100
			if c := chat.ErrorCode(err); c != chat.CodeInvalidArgument {
				status, code = api.Status(c), 500900
			}
			sendbirdError(w, status, code, chat.ErrorMessage(err))
			return
		}
	} else {
		wh, err = svc.SendbirdSettings(r.Context())
		if err != nil {
			sendbirdError(w, http.StatusServiceUnavailable, 500503, chat.ErrorMessage(err))
			return
		}
	}
	out := map[string]any{"webhook": wh}
	if r.URL.Query().Get("display_all_webhook_categories") == "true" {
		out["all_webhook_categories"] = chat.EventTypes
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}
