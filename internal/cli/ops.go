package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/client"
)

// ClientFlags are the flags of every command that talks to a running server.
type ClientFlags struct {
	Server string `default:"http://127.0.0.1:8080" env:"CHATHOOKS_SERVER" help:"Base URL of the chathooks server."`
	Token  string `env:"CHATHOOKS_TOKEN" help:"Admin token of the server."`
	JSON   bool   `help:"Print JSON (the API's own objects) instead of text, for scripts."`
}

// ops is what an operator command runs with: a client and where and how to print.
type ops struct {
	ctx    context.Context
	c      *client.Client
	json   bool
	stdout io.Writer
	stderr io.Writer
}

// AfterApply builds the client once the flags are parsed and binds it for Run.
func (f *ClientFlags) AfterApply(kctx *kong.Context, e *env) error {
	if f.Token == "" {
		return errors.New("no admin token: pass --token or set CHATHOOKS_TOKEN (the token the server printed on first start, or its --admin-token)")
	}
	c, err := client.New(f.Server, f.Token)
	if err != nil {
		return err
	}
	kctx.Bind(&ops{ctx: e.ctx, c: c, json: f.JSON, stdout: e.stdout, stderr: e.stderr})
	return nil
}

// printJSON writes v as indented JSON.
func (o *ops) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = o.stdout.Write(append(b, '\n'))
	return err
}

// table returns a tab-aligned writer on stdout with a header line; Flush it when done.
func (o *ops) table(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

// more tells, on stderr, how to get the next page.
func (o *ops) more(next string) {
	if next != "" {
		fmt.Fprintf(o.stderr, "(more: --cursor %s)\n", next)
	}
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PageFlags select a page of a list.
type PageFlags struct {
	Limit  int    `default:"50" help:"Items per page (at most 200)."`
	Cursor string `help:"Continue after this cursor (printed when there are more)."`
}

func (p PageFlags) page() client.Page { return client.Page{Cursor: p.Cursor, Limit: p.Limit} }

// RoomsCmd groups the room commands.
type RoomsCmd struct {
	ClientFlags
	List   RoomsListCmd   `cmd:"" default:"1" help:"List rooms (the default)."`
	Create RoomsCreateCmd `cmd:"" help:"Create a room."`
}

// SettingsCmd shows the workspace settings, or changes those given.
type SettingsCmd struct {
	ClientFlags
	AlertsRoom *string `name:"alerts-room" help:"Room that endpoint failure alerts are posted into (\"\" turns alerts off)."`
}

// Run shows or changes the settings.
func (c SettingsCmd) Run(o *ops) error {
	var v chat.SettingsView
	var err error
	if c.AlertsRoom != nil {
		v, err = o.c.UpdateSettings(o.ctx, client.SettingsPatch{AlertsRoomID: c.AlertsRoom})
	} else {
		v, err = o.c.Settings(o.ctx)
	}
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(v)
	}
	room := v.AlertsRoomID
	if room == "" {
		room = "(none: failure alerts are off)"
	}
	fmt.Fprintf(o.stdout, "alerts room: %s\n", room)
	return nil
}

// RoomsListCmd lists rooms.
type RoomsListCmd struct{ PageFlags }

// Run lists rooms.
func (r RoomsListCmd) Run(o *ops) error {
	l, err := o.c.Rooms(o.ctx, r.page())
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(l)
	}
	tw := o.table("ID", "NAME", "MEMBERS", "LAST EVENT", "CREATED")
	for _, rm := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", rm.ID, rm.Name, rm.MemberCount, rm.LastEventID, ts(rm.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	o.more(l.NextCursor)
	return nil
}

// RoomsCreateCmd creates a room.
type RoomsCreateCmd struct {
	ID      string   `arg:"" optional:"" help:"Room id (generated when absent)."`
	Name    string   `help:"Display name (default: the id)."`
	Members []string `name:"member" short:"m" sep:"," help:"User ids who join the room (repeatable or comma-separated)."`
	Creator string   `help:"User id of the creator (joins with the members)."`
}

// Run creates the room.
func (r RoomsCreateCmd) Run(o *ops) error {
	name := r.Name
	if name == "" {
		name = r.ID
	}
	if name == "" {
		return errors.New("give a room id or --name")
	}
	rm, err := o.c.CreateRoom(o.ctx, client.CreateRoom{ID: r.ID, Name: name, CreatorID: r.Creator, MemberIDs: r.Members})
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(rm)
	}
	fmt.Fprintf(o.stdout, "created room %s (%q, %d members)\n", rm.ID, rm.Name, rm.MemberCount)
	return nil
}

// WebhooksCmd groups the incoming webhook commands.
type WebhooksCmd struct {
	ClientFlags
	Create     WebhooksCreateCmd     `cmd:"" help:"Create an incoming webhook in a room and print its four URLs."`
	List       WebhooksListCmd       `cmd:"" help:"List a room's incoming webhooks."`
	Regenerate WebhooksRegenerateCmd `cmd:"" help:"Issue a new token (the old URLs stop working) and print the new URLs."`
	Delete     WebhooksDeleteCmd     `cmd:"" help:"Delete an incoming webhook."`
}

// WebhooksCreateCmd creates an incoming webhook.
type WebhooksCreateCmd struct {
	Room      string `arg:"" help:"Room id."`
	Name      string `required:"" help:"Sender name, shown as \"<name> (Webhook)\"."`
	AvatarURL string `help:"http(s) URL of the sender's avatar."`
}

// Run creates the webhook.
func (w WebhooksCreateCmd) Run(o *ops) error {
	wh, err := o.c.CreateWebhook(o.ctx, w.Room, w.Name, w.AvatarURL)
	if err != nil {
		return err
	}
	return o.printWebhookWithURLs(wh, "created")
}

func (o *ops) printWebhookWithURLs(wh api.Webhook, verb string) error {
	if o.json {
		return o.printJSON(wh)
	}
	fmt.Fprintf(o.stdout, "%s webhook %s in room %s (%q)\n", verb, wh.ID, wh.RoomID, wh.Name)
	if wh.URLs != nil {
		tw := tabwriter.NewWriter(o.stdout, 0, 4, 1, ' ', 0)
		fmt.Fprintf(tw, "  chime:\t%s\n  google_chat:\t%s\n  slack:\t%s\n  mattermost:\t%s\n",
			wh.URLs.Chime, wh.URLs.GoogleChat, wh.URLs.Slack, wh.URLs.Mattermost)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.stdout, "The URLs contain the token; they are shown only now (the token is stored hashed).")
	return nil
}

// WebhooksListCmd lists a room's webhooks.
type WebhooksListCmd struct {
	Room string `arg:"" help:"Room id."`
}

// Run lists the webhooks.
func (w WebhooksListCmd) Run(o *ops) error {
	l, err := o.c.Webhooks(o.ctx, w.Room)
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(l)
	}
	tw := o.table("ID", "NAME", "AVATAR", "CREATED")
	for _, wh := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", wh.ID, wh.Name, orDash(wh.AvatarURL), ts(wh.CreatedAt))
	}
	return tw.Flush()
}

// WebhooksRegenerateCmd regenerates a webhook's token.
type WebhooksRegenerateCmd struct {
	ID string `arg:"" help:"Webhook id (wh_...)."`
}

// Run regenerates the token.
func (w WebhooksRegenerateCmd) Run(o *ops) error {
	wh, err := o.c.RegenerateWebhook(o.ctx, w.ID)
	if err != nil {
		return err
	}
	return o.printWebhookWithURLs(wh, "regenerated")
}

// WebhooksDeleteCmd deletes a webhook.
type WebhooksDeleteCmd struct {
	ID string `arg:"" help:"Webhook id (wh_...)."`
}

// Run deletes the webhook.
func (w WebhooksDeleteCmd) Run(o *ops) error {
	if err := o.c.DeleteWebhook(o.ctx, w.ID); err != nil {
		return err
	}
	if o.json {
		return o.printJSON(map[string]string{"deleted": w.ID})
	}
	fmt.Fprintf(o.stdout, "deleted webhook %s\n", w.ID)
	return nil
}

// EndpointsCmd groups the outgoing endpoint commands.
type EndpointsCmd struct {
	ClientFlags
	Create     EndpointsCreateCmd     `cmd:"" help:"Create an outgoing endpoint and print its secret (chat formats have none)."`
	List       EndpointsListCmd       `cmd:"" default:"1" help:"List endpoints (the default)."`
	Deliveries EndpointsDeliveriesCmd `cmd:"" help:"List an endpoint's deliveries, newest first."`
	Delivery   EndpointsDeliveryCmd   `cmd:"" help:"Show one delivery with every attempt."`
	Retry      EndpointsRetryCmd      `cmd:"" help:"Attempt a delivery again now (dead ones included)."`
	Replay     EndpointsReplayCmd     `cmd:"" help:"Re-send every matching event since a time."`
}

// EndpointsCreateCmd creates an endpoint.
type EndpointsCreateCmd struct {
	URL         string   `arg:"" help:"http(s) URL deliveries are POSTed to (chat formats: the tool's incoming-webhook URL)."`
	Format      string   `default:"standard" enum:"standard,sendbird,rbm,slack,mattermost,google_chat,chime" help:"standard, sendbird or rbm; slack, mattermost, google_chat or chime relay messages into that chat tool."`
	Events      []string `default:"*" sep:"," help:"Event types (comma-separated), * for all (chat formats: messages)."`
	Rooms       []string `sep:"," help:"Only events of these rooms (comma-separated)."`
	Secret      string   `help:"Signing secret (generated when absent; standard: whsec_...; rbm: the clientToken)."`
	Description string   `help:"Free text."`
	Agent       string   `help:"Make it an agent-level endpoint of this agent user."`
	Ordering    string   `enum:"concurrent,fifo" default:"concurrent" help:"concurrent (up to max_in_flight at once) or fifo (one at a time in commit order; a failing delivery blocks those behind it)."`
}

// Run creates the endpoint.
func (e EndpointsCreateCmd) Run(o *ops) error {
	events := e.Events
	if chat.IsChatTarget(e.Format) && len(events) == 1 && events[0] == "*" {
		// Without a template a chat tool is sent messages only.
		events = []string{chat.EventMessageSend}
	}
	ep, err := o.c.CreateEndpoint(o.ctx, client.CreateEndpoint{
		URL: e.URL, Format: e.Format, EventTypes: events, Secret: e.Secret, Description: e.Description, AgentID: e.Agent,
		RoomIDs: e.Rooms, Ordering: e.Ordering,
	})
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(ep)
	}
	fmt.Fprintf(o.stdout, "created endpoint %s (%s, %s) -> %s\n  events: %s\n",
		ep.ID, ep.Format, ep.Status, ep.URL, strings.Join(ep.EventTypes, ","))
	if len(ep.RoomIDs) > 0 {
		fmt.Fprintf(o.stdout, "  rooms: %s\n", strings.Join(ep.RoomIDs, ","))
	}
	if ep.Ordering == chat.OrderingFIFO {
		fmt.Fprintf(o.stdout, "  ordering: fifo (one at a time, in commit order)\n")
	}
	if ep.Secret != "" {
		fmt.Fprintf(o.stdout, "  secret: %s\n", ep.Secret)
	}
	return nil
}

// EndpointsListCmd lists endpoints.
type EndpointsListCmd struct{ PageFlags }

// Run lists the endpoints.
func (e EndpointsListCmd) Run(o *ops) error {
	l, err := o.c.Endpoints(o.ctx, e.page())
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(l)
	}
	tw := o.table("ID", "FORMAT", "STATUS", "EVENTS", "URL")
	for _, ep := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ep.ID, ep.Format, ep.Status, strings.Join(ep.EventTypes, ","), ep.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	o.more(l.NextCursor)
	return nil
}

// EndpointsDeliveriesCmd lists an endpoint's deliveries.
type EndpointsDeliveriesCmd struct {
	Endpoint string `arg:"" help:"Endpoint id (ep_...)."`
	Status   string `enum:"pending,succeeded,failed,dead," default:"" help:"Only deliveries in this status (pending, succeeded, failed, dead)."`
	PageFlags
}

// Run lists the deliveries.
func (e EndpointsDeliveriesCmd) Run(o *ops) error {
	l, err := o.c.Deliveries(o.ctx, e.Endpoint, e.Status, e.page())
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(l)
	}
	tw := o.table("ID", "EVENT", "TYPE", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "CREATED")
	for _, d := range l.Items {
		next := "-"
		if d.NextAttemptAt != nil {
			next = ts(*d.NextAttemptAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventID, d.EventType, d.Status, d.AttemptCount, next, ts(d.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	o.more(l.NextCursor)
	return nil
}

// EndpointsDeliveryCmd shows a delivery.
type EndpointsDeliveryCmd struct {
	ID string `arg:"" help:"Delivery id."`
}

// Run shows the delivery with its attempts.
func (e EndpointsDeliveryCmd) Run(o *ops) error {
	d, err := o.c.Delivery(o.ctx, e.ID)
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(d)
	}
	fmt.Fprintf(o.stdout, "delivery %s of %s (%s) to %s: %s after %d attempts\n", d.ID, d.EventID, d.EventType, d.EndpointID, d.Status, d.AttemptCount)
	if d.NextAttemptAt != nil {
		fmt.Fprintf(o.stdout, "next attempt at %s\n", ts(*d.NextAttemptAt))
	}
	tw := o.table("AT", "STATUS", "LATENCY", "ERROR", "RESPONSE")
	for _, a := range d.Attempts {
		code := "-"
		if a.StatusCode != 0 {
			code = fmt.Sprint(a.StatusCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%dms\t%s\t%s\n", ts(a.At), code, a.LatencyMS, orDash(a.Error), orDash(oneLine(a.ResponseExcerpt, 60)))
	}
	return tw.Flush()
}

// EndpointsRetryCmd retries a delivery.
type EndpointsRetryCmd struct {
	ID string `arg:"" help:"Delivery id."`
}

// Run retries the delivery.
func (e EndpointsRetryCmd) Run(o *ops) error {
	d, err := o.c.RetryDelivery(o.ctx, e.ID)
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(d)
	}
	fmt.Fprintf(o.stdout, "delivery %s will be attempted again now (event %s, %d attempts so far)\n", d.ID, d.EventID, d.AttemptCount)
	return nil
}

// EndpointsReplayCmd replays events to an endpoint.
type EndpointsReplayCmd struct {
	Endpoint string `arg:"" help:"Endpoint id (ep_...)."`
	Since    string `required:"" help:"RFC 3339 time (2026-11-23T00:00:00Z) or a duration back from now (90m, 24h)."`
}

// Run replays.
func (e EndpointsReplayCmd) Run(o *ops) error {
	since, err := parseSince(e.Since, time.Now())
	if err != nil {
		return err
	}
	r, err := o.c.Replay(o.ctx, e.Endpoint, since)
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(r)
	}
	fmt.Fprintf(o.stdout, "replaying %d events since %s to %s\n", r.Deliveries, ts(r.Since), r.EndpointID)
	return nil
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2026-11-23T00:00:00Z) or a duration (24h)", s)
}

// SendCmd posts a message.
type SendCmd struct {
	ClientFlags
	Room   string `arg:"" help:"Room id."`
	Text   string `arg:"" help:"Message text (Markdown)."`
	As     string `required:"" help:"Sender user id (a member of the room)."`
	Thread string `help:"Reply in the thread of this message id."`
}

// Run sends the message.
func (s SendCmd) Run(o *ops) error {
	m, err := o.c.Send(o.ctx, s.Room, s.As, s.Text, s.Thread)
	if err != nil {
		return err
	}
	if o.json {
		return o.printJSON(m)
	}
	fmt.Fprintf(o.stdout, "sent %s to %s\n", m.ID, m.RoomID)
	return nil
}

// TailCmd follows a room's live stream.
type TailCmd struct {
	ClientFlags
	Room  string `arg:"" help:"Room id."`
	Since int64  `default:"-1" help:"Start after this event number (0: the room's whole history; default: from now). Interrupted tails print the number to resume from."`
	User  string `help:"Watch as this user (present while tailing)."`
}

// Run streams until interrupted.
func (t TailCmd) Run(o *ops) error {
	last := t.Since
	err := o.c.Stream(o.ctx, t.Room, client.StreamOptions{
		After: t.Since, UserID: t.User,
		Notice: func(s string) { fmt.Fprintf(o.stderr, "tail: %s\n", s) },
	}, func(e chat.Event) error {
		last = e.RoomSeq
		if o.json {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			_, err = o.stdout.Write(append(b, '\n'))
			return err
		}
		_, err := io.WriteString(o.stdout, formatEvent(e))
		return err
	})
	if err != nil {
		return err
	}
	if last >= 0 {
		fmt.Fprintf(o.stderr, "tail: stopped; resume with --since %d\n", last)
	}
	return nil
}

// formatEvent is one event as terminal lines: "#seq hh:mm:ss who: what".
func formatEvent(e chat.Event) string {
	head := fmt.Sprintf("#%d %s ", e.RoomSeq, e.CreatedAt.Local().Format("15:04:05"))
	switch e.Type {
	case chat.EventMessageSend, chat.EventMessageUpdate:
		var p chat.MessagePayload
		if json.Unmarshal(e.Payload, &p) == nil {
			verb := ""
			if e.Type == chat.EventMessageUpdate {
				verb = "(edited) "
			}
			thread := ""
			if p.Message.ThreadID != "" && p.Message.ThreadID != p.Message.ID {
				thread = " [thread " + p.Message.ThreadID + "]"
			}
			text := strings.ReplaceAll(strings.TrimRight(p.Message.Text, "\n"), "\n", "\n    ")
			return fmt.Sprintf("%s%s%s: %s%s\n", head, p.Message.Sender.DisplayName(), thread, verb, text)
		}
	case chat.EventMessageDelete:
		var p chat.MessageDeletePayload
		if json.Unmarshal(e.Payload, &p) == nil {
			return fmt.Sprintf("%smessage %s deleted\n", head, p.MessageID)
		}
	case chat.EventRoomJoin, chat.EventRoomLeave, chat.EventRoomInvite:
		var p chat.MembershipPayload
		if json.Unmarshal(e.Payload, &p) == nil {
			ids := make([]string, len(p.Users))
			for i, u := range p.Users {
				ids[i] = u.ID
			}
			verb := map[string]string{chat.EventRoomJoin: "joined", chat.EventRoomLeave: "left", chat.EventRoomInvite: "invited"}[e.Type]
			return fmt.Sprintf("%s%s %s\n", head, strings.Join(ids, ", "), verb)
		}
	case chat.EventMessageRead:
		var p chat.ReadPayload
		if json.Unmarshal(e.Payload, &p) == nil {
			return fmt.Sprintf("%s%s read up to %s\n", head, p.User.ID, orDash(p.MessageID))
		}
	}
	return fmt.Sprintf("%s%s\n", head, e.Type)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
