package chat

// Failure alerts. When an endpoint starts failing (its circuit breaker opens), recovers,
// is disabled (410 Gone or by hand), or a delivery to it dies, chathooks emits an
// operational event (endpoint:failing, endpoint:recovered, endpoint:disabled,
// delivery:dead) and, when the workspace names an alerts room, posts one message into that
// room as the system sender. Both are written through the ordinary write path, in one
// transaction (the event with its deliveries, the message with its message_send event), so
// they are as durable as any event.
//
// Once per change: an endpoint's health state (ok, failing, disabled) is stored, and an
// announcement is written only when it changes the stored state, in the same transaction,
// so every node, before and after a restart, announces a change once. Dead deliveries have
// no state: at most DeadAlertsPerMinute per endpoint are announced per minute (per node);
// the others are counted and the next announcement says how many.
//
// No storms: an announcement about endpoint X (event or room message) is never delivered
// to X, and a dead delivery of an announcement is not announced, so a failing endpoint
// cannot feed on alerts about itself or bounce alerts with another failing endpoint.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// Kinds of endpoint changes the delivery engine reports.
const (
	ChangeFailing = "failing" // the circuit breaker opened
	ChangeOK      = "ok"      // an attempt succeeded after failures, or the first success a node saw
	ChangeGone    = "gone"    // it answered 410 Gone: the endpoint is disabled
	ChangeDead    = "dead"    // a delivery's retries are spent
)

// EndpointChange is a change of an endpoint's health seen by the delivery engine.
type EndpointChange struct {
	Kind       string
	EndpointID string
	At         time.Time
	StatusCode int    // of the attempt that caused it
	Error      string // of the attempt that caused it
	// Dead deliveries: the delivery, and its event when the engine has it (else nil).
	Delivery DeliveryRef
	Event    *Event
}

// Alert limits.
const (
	// DeadAlertsPerMinute bounds the delivery:dead announcements of one endpoint per minute.
	DeadAlertsPerMinute = 5
	// maxQueuedDead bounds the dead deliveries of one endpoint waiting for the alerter; more
	// are counted as suppressed at once.
	maxQueuedDead = 2 * DeadAlertsPerMinute
)

// AlertSender is who alert messages are posted as.
var AlertSender = Sender{Type: SenderSystem, ID: "chathooks", Name: "chathooks"}

// Alerter turns the engine's endpoint changes into announcements. Notify is safe to call
// from any goroutine and never blocks; one worker goroutine (Start) writes.
type Alerter struct {
	svc  *Service
	base func() string // the console's base URL, for links

	// mu guards the queue: changes waiting for the worker, how many dead ones per
	// endpoint wait (queuedDead), and dead ones dropped because too many waited (dropped).
	mu         sync.Mutex
	queue      []EndpointChange
	queuedDead map[string]int
	dropped    map[string]int
	wake       chan struct{} // one slot: the queue grew
	// stop and done belong to the lifecycle's goroutine (Start, Stop): the worker gets its
	// own copies.
	stop chan struct{}
	done chan struct{}

	// dead is the worker's per-endpoint limit of dead announcements (worker only).
	dead map[string]*deadWindow
}

// deadWindow counts one endpoint's dead announcements in the current minute.
type deadWindow struct {
	start      time.Time
	announced  int
	suppressed int
}

// NewAlerter returns an alerter writing through svc; base returns the console's base URL.
func NewAlerter(svc *Service, base func() string) *Alerter {
	return &Alerter{svc: svc, base: base, queuedDead: map[string]int{}, dropped: map[string]int{},
		wake: make(chan struct{}, 1), dead: map[string]*deadWindow{}}
}

// Notify queues a change for the worker.
func (a *Alerter) Notify(c EndpointChange) {
	a.mu.Lock()
	if c.Kind == ChangeDead {
		if a.queuedDead[c.EndpointID] >= maxQueuedDead {
			a.dropped[c.EndpointID]++
			a.mu.Unlock()
			return
		}
		a.queuedDead[c.EndpointID]++
	}
	a.queue = append(a.queue, c)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Start runs the worker until Stop.
func (a *Alerter) Start() {
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.run(a.stop, a.done)
}

// Stop ends the worker after it wrote what is queued, or when ctx ends. Start and Stop are
// called by one goroutine (the app's lifecycle); a second Stop does nothing.
func (a *Alerter) Stop(ctx context.Context) {
	if a.stop == nil {
		return
	}
	close(a.stop)
	a.stop = nil
	select {
	case <-a.done:
	case <-ctx.Done():
	}
}

// run is the worker: it writes queued changes one by one, until stopped with an empty
// queue.
func (a *Alerter) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		for _, c := range batch {
			a.safeHandle(c)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-a.wake:
		case <-stop:
			a.mu.Lock()
			empty := len(a.queue) == 0
			a.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// safeHandle handles a change; a panic is a bug, logged, and the worker goes on.
func (a *Alerter) safeHandle(c EndpointChange) {
	defer func() {
		if p := recover(); p != nil {
			a.svc.log.Error("alerts: handling an endpoint change panicked", slog.Any("panic", p), slog.String("endpoint_id", c.EndpointID))
		}
	}()
	if c.Kind == ChangeDead {
		a.mu.Lock()
		a.queuedDead[c.EndpointID]--
		dropped := a.dropped[c.EndpointID]
		delete(a.dropped, c.EndpointID)
		if a.queuedDead[c.EndpointID] <= 0 {
			delete(a.queuedDead, c.EndpointID)
		}
		a.mu.Unlock()
		w := a.window(c.EndpointID)
		w.suppressed += dropped
	}
	var err error
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = a.handle(ctx, c)
		cancel()
		if err == nil || !IsCode(err, CodeUnavailable) && ErrorCode(err) != CodeInternal || attempt == 2 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond) // back off from a failing database
	}
	if err != nil {
		a.svc.log.Error("alerts: announce an endpoint change", slog.String("endpoint_id", c.EndpointID),
			slog.String("change", c.Kind), slog.Any("error", err))
	}
}

// window returns the endpoint's dead-announcement window of the current minute.
func (a *Alerter) window(endpointID string) *deadWindow {
	now := a.svc.now()
	w := a.dead[endpointID]
	if w == nil {
		w = &deadWindow{start: now}
		a.dead[endpointID] = w
	}
	if now.Sub(w.start) >= time.Minute {
		w.start, w.announced = now, 0
	}
	return w
}

// handle writes the announcement of one change, if it is one.
func (a *Alerter) handle(ctx context.Context, c EndpointChange) error {
	an := announcement{endpointID: c.EndpointID, at: c.At, statusCode: c.StatusCode, errText: c.Error}
	switch c.Kind {
	case ChangeFailing:
		an.kind, an.state, an.reason = EventEndpointFailing, HealthFailing, ReasonCircuitOpen
	case ChangeOK:
		// Reported on every recovery of a lane and on a node's first success: announce only
		// when the stored state says failing (a cheap read first).
		st, err := a.svc.store.EndpointHealth(ctx, c.EndpointID)
		if err != nil || st != HealthFailing {
			return err
		}
		an.kind, an.state, an.reason = EventEndpointRecovered, HealthOK, ReasonSucceeded
	case ChangeGone:
		an.kind, an.state, an.reason = EventEndpointDisabled, HealthDisabled, ReasonGone
	case ChangeDead:
		about, err := a.isAnnouncement(ctx, c)
		if err != nil || about {
			return err
		}
		w := a.window(c.EndpointID)
		if w.announced >= DeadAlertsPerMinute {
			w.suppressed++
			return nil
		}
		w.announced++
		an.kind, an.delivery, an.suppressed = EventDeliveryDead, &c.Delivery, w.suppressed
		w.suppressed = 0
	default:
		return nil
	}
	return a.svc.write(ctx, func(tx Tx, emit func(*Event) error) error {
		_, err := a.svc.announce(tx, emit, an, a.base())
		return err
	})
}

// isAnnouncement reports whether a dead delivery carried an announcement itself: an
// operational event, or an alert message.
func (a *Alerter) isAnnouncement(ctx context.Context, c EndpointChange) (bool, error) {
	typ := c.Delivery.EventType
	if IsOperational(typ) {
		return true, nil
	}
	if typ != EventMessageSend && typ != EventMessageUpdate {
		return false, nil
	}
	ev := c.Event
	if ev == nil {
		evs, err := a.svc.store.EventsByID(ctx, []string{c.Delivery.EventID})
		if err != nil || len(evs) == 0 {
			return false, err
		}
		ev = &evs[0]
	}
	snd, ok := MessageSender(*ev)
	return ok && snd.Type == SenderSystem, nil
}

// announcement is one endpoint change to announce.
type announcement struct {
	kind       string // the operational event type
	endpointID string
	state      string // the health state it sets ("" for dead deliveries)
	reason     string
	at         time.Time
	statusCode int
	errText    string
	delivery   *DeliveryRef
	suppressed int
}

// announce writes an announcement in tx: the endpoint's new health state (unless it is the
// stored one already: then nothing, and false), the operational event, and the alert
// message in the alerts room if one is set. base is the console's base URL.
func (s *Service) announce(tx Tx, emit func(*Event) error, an announcement, base string) (bool, error) {
	e, err := tx.GetEndpoint(an.endpointID)
	if IsCode(err, CodeNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	now := s.now()
	if an.at.IsZero() {
		an.at = now
	}
	if an.state != "" {
		cur, err := tx.EndpointHealth(e.ID)
		if err != nil {
			return false, err
		}
		if cur == an.state || an.state == HealthOK && cur != HealthFailing {
			return false, nil
		}
		if err := tx.SetEndpointHealth(e.ID, an.state, now); err != nil {
			return false, err
		}
	}
	link := strings.TrimSuffix(base, "/") + ConsoleEndpointPath(e.ID, "")
	var payload any
	if an.delivery != nil {
		link = strings.TrimSuffix(base, "/") + ConsoleEndpointPath(e.ID, an.delivery.ID)
		payload = DeliveryDeadPayload{Endpoint: endpointRef(e), Delivery: *an.delivery, StatusCode: an.statusCode,
			Error: an.errText, Suppressed: an.suppressed, At: an.at.UTC(), ConsoleURL: link}
	} else {
		payload = EndpointHealthPayload{Endpoint: endpointRef(e), Reason: an.reason, StatusCode: an.statusCode,
			Error: an.errText, At: an.at.UTC(), ConsoleURL: link}
	}
	ev := s.newEvent(an.kind, "", payload, nil)
	ev.AboutEndpoint = e.ID
	if err := emit(ev); err != nil {
		return false, err
	}
	ws, err := tx.WorkspaceSettings()
	if err != nil || ws.AlertsRoomID == "" {
		return true, err
	}
	return true, s.postAlert(tx, emit, ws.AlertsRoomID, e.ID, alertText(an, e, link))
}

// postAlert posts an alert message into the alerts room as the system sender (a room
// deleted meanwhile: logged, nothing posted).
func (s *Service) postAlert(tx Tx, emit func(*Event) error, roomID, endpointID, text string) error {
	room, err := tx.GetRoom(roomID)
	if IsCode(err, CodeNotFound) {
		s.log.Warn("alerts: the alerts room does not exist; alert not posted", slog.String("room_id", roomID))
		return nil
	}
	if err != nil {
		return err
	}
	now := s.now()
	// Rendered here, in the writer: alerts are rare and their text is short.
	r := s.render.Render(FormatMarkdown, text)
	m := Message{ID: ids.New("msg", now), RoomID: roomID, Sender: AlertSender, Text: text, Format: FormatMarkdown,
		HTML: r.HTML, Mentions: []Mention{}, CreatedAt: now}
	m.ThreadID = m.ID
	if err := tx.InsertMessage(m); err != nil {
		return err
	}
	agents, err := tx.RoomAgents(roomID)
	if err != nil {
		return err
	}
	ev := s.newEventJSON(EventMessageSend, roomID, messagePayloadJSON(MessagePayload{Room: roomRef(room), Message: m}, nil), agents)
	ev.AboutEndpoint = endpointID
	return emit(ev)
}

// alertText is the alert message of an announcement (Markdown).
func alertText(an announcement, e Endpoint, link string) string {
	name := "`" + e.ID + "`"
	if d := strings.TrimSpace(e.Description); d != "" {
		name = "**" + mdEscape(d) + "** (`" + e.ID + "`)"
	}
	last := ""
	switch {
	case an.statusCode > 0 && an.errText != "":
		last = fmt.Sprintf(" Last attempt: HTTP %d, %s.", an.statusCode, mdEscape(an.errText))
	case an.statusCode > 0:
		last = fmt.Sprintf(" Last attempt: HTTP %d.", an.statusCode)
	case an.errText != "":
		last = " Last attempt: " + mdEscape(an.errText) + "."
	}
	switch an.kind {
	case EventEndpointFailing:
		return fmt.Sprintf("⚠️ Endpoint %s is failing: attempts fail in a row and its circuit breaker opened; deliveries wait and are retried.%s [Open the endpoint](%s)", name, last, link)
	case EventEndpointRecovered:
		return fmt.Sprintf("✅ Endpoint %s recovered: deliveries succeed again. [Open the endpoint](%s)", name, link)
	case EventEndpointDisabled:
		why := "by hand"
		if an.reason == ReasonGone {
			why = "because it answered 410 Gone"
		}
		return fmt.Sprintf("⛔ Endpoint %s was disabled %s; its deliveries wait until it is enabled again. [Open the endpoint](%s)", name, why, link)
	}
	d := an.delivery
	more := ""
	if an.suppressed > 0 {
		more = fmt.Sprintf(" %d more died since the last alert about this endpoint.", an.suppressed)
	}
	attempts := fmt.Sprintf("%d attempts", d.AttemptCount)
	if d.AttemptCount == 1 {
		attempts = "its only attempt"
	}
	return fmt.Sprintf("❌ A delivery to endpoint %s died after %s: `%s` of event `%s`.%s%s [Open the delivery](%s)",
		name, attempts, d.EventType, d.EventID, last, more, link)
}

// mdEscape escapes Markdown punctuation in text shown in an alert.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		if strings.ContainsRune("\\`*_{}[]()<>#+-.!|~@:", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
