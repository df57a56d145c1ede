package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

func TestChime(t *testing.T) {
	t.Parallel()
	f := setup(t, apptest.Options{})
	v := f.valid
	u := v.URLs.Chime
	big := func(n int) string { return fmt.Sprintf(`{"Content":%q}`, strings.Repeat("a", n)) }
	cases := []struct {
		name, url, ct, body string
		status              int
		code                string // Code of the error body ("" for success)
	}{
		{"success", u, "application/json", `{"Content":"hello **world**"}`, 200, ""},
		{"no content type", u, "", `{"Content":"hello"}`, 200, ""},
		{"text content type", u, "text/plain", `{"Content":"hello"}`, 200, ""},
		{"4096 bytes", u, "application/json", big(4096), 200, ""},
		{"4097 bytes", u, "application/json", big(4097), 413, "ResourceLimitExceeded"},
		{"multibyte over 4096 bytes", u, "application/json", fmt.Sprintf(`{"Content":%q}`, strings.Repeat("é", 2049)), 413, "ResourceLimitExceeded"},
		{"missing Content", u, "application/json", `{"Text":"x"}`, 400, "BadRequest"},
		{"lower-case content", u, "application/json", `{"content":"x"}`, 400, "BadRequest"},
		{"empty Content", u, "application/json", `{"Content":""}`, 400, "BadRequest"},
		{"blank Content", u, "application/json", `{"Content":"  \n "}`, 400, "BadRequest"},
		{"Content not a string", u, "application/json", `{"Content":42}`, 400, "BadRequest"},
		{"invalid JSON", u, "application/json", `{"Content":`, 400, "BadRequest"},
		{"empty body", u, "application/json", ``, 400, "BadRequest"},
		{"unknown id", unknownID(u, v), "application/json", `{"Content":"x"}`, 403, "Forbidden"},
		{"wrong token", wrongToken(u, v), "application/json", `{"Content":"x"}`, 403, "Forbidden"},
		{"no token", strings.Split(u, "?")[0], "application/json", `{"Content":"x"}`, 403, "Forbidden"},
		{"regenerated", f.regenerated.URLs.Chime, "application/json", `{"Content":"x"}`, 404, "NotFound"},
		{"deleted", f.deleted.URLs.Chime, "application/json", `{"Content":"x"}`, 404, "NotFound"},
		{"room deleted", f.gone.URLs.Chime, "application/json", `{"Content":"x"}`, 404, "NotFound"},
		{"body over 1 MiB", u, "application/json", big(1 << 20), 413, "ResourceLimitExceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, c.url, c.ct, c.body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, c.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var m map[string]string
			if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
				t.Fatalf("body %q: %v", r.Body, err)
			}
			if c.code == "" {
				if len(m) != 2 || m["RoomId"] != "r" || !strings.HasPrefix(m["MessageId"], "msg_") {
					t.Fatalf("success body %s", r.Body)
				}
				got, err := f.s.App.Service.GetMessage(t.Context(), "r", m["MessageId"])
				if err != nil {
					t.Fatalf("the message is not stored: %v", err)
				}
				want := chat.Sender{Type: "webhook", ID: v.ID, Name: "Alerts", AvatarURL: "https://example.com/a.png"}
				if got.Sender != want || got.Format != "markdown" {
					t.Fatalf("stored %+v", got)
				}
				return
			}
			if len(m) != 2 || m["Code"] != c.code || m["Message"] == "" {
				t.Fatalf("error body %s, want Code %s", r.Body, c.code)
			}
		})
	}
}

// memberReadsStore counts the reads of a room's members inside write transactions.
type memberReadsStore struct {
	chat.Store
	n atomic.Int64
}

func (s *memberReadsStore) Write(ctx context.Context, fn func(chat.Tx) error) error {
	return s.Store.Write(ctx, func(tx chat.Tx) error { return fn(memberReadsTx{tx, &s.n}) })
}

type memberReadsTx struct {
	chat.Tx
	n *atomic.Int64
}

func (tx memberReadsTx) MemberUsers(roomID string, now time.Time) ([]chat.User, error) {
	tx.n.Add(1)
	return tx.Tx.MemberUsers(roomID, now)
}

// The Chime documentation's own curl example renders with emoji, two links and two mentions.
// Its @Present resolves against the room's members read in the writer where that read is
// local (SQLite), and before the write where it would cost the batch a round trip
// (PostgreSQL).
func TestChimeSeedExample(t *testing.T) {
	t.Parallel()
	reads := &memberReadsStore{}
	s := apptest.Start(t, apptest.Options{Config: func(c *app.Config) {
		c.WrapServiceStore = func(st chat.Store) chat.Store { reads.Store = st; return reads }
	}})
	room(t, s, "seed", "mary", "ann")
	s.Must(200, "PUT", "/api/v1/users/mary/presence", map[string]any{"present": true})
	h := newHook(t, s, "seed", "Seed")
	r := post(t, h.URLs.Chime, "application/json", `{"Content":"Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present"}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var m chat.Message
	s.Must(200, "GET", "/api/v1/rooms/seed/messages/"+r.json(t)["MessageId"].(string), nil).JSON(t, &m)
	if !strings.Contains(m.HTML, "👍") || strings.Contains(m.HTML, ":+1:") || strings.Contains(m.HTML, ":)") {
		t.Errorf("emoji not rendered: %s", m.HTML)
	}
	if n := strings.Count(m.HTML, "<a "); n != 2 || !strings.Contains(m.HTML, `href="http://sample.com"`) || !strings.Contains(m.HTML, `href="mailto:marymajor@example.com"`) {
		t.Errorf("want 2 links (http and mailto), got %d: %s", n, m.HTML)
	}
	want := []chat.Mention{{Type: "all"}, {Type: "present", UserID: "mary"}}
	if fmt.Sprint(m.Mentions) != fmt.Sprint(want) {
		t.Errorf("mentions %+v, want %+v", m.Mentions, want)
	}
	if m.Sender.DisplayName() != "Seed (Webhook)" {
		t.Errorf("sender %+v", m.Sender)
	}
	inWriter := int64(1)
	if reads.WriterRoundTrips() {
		inWriter = 0
	}
	if n := reads.n.Load(); n != inWriter {
		t.Errorf("the room's members were read %d times in the writer, want %d (writer round trips: %v)", n, inWriter, reads.WriterRoundTrips())
	}
}

// @All / @Present only in rooms of at most 50 members; other mentions are fine.
func TestChimeBroadcastLimit(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	members := make([]string, 51)
	for i := range members {
		members[i] = fmt.Sprintf("m%02d", i)
	}
	room(t, s, "big", members...)
	room(t, s, "fifty", members[:50]...)
	big, fifty := newHook(t, s, "big", "B"), newHook(t, s, "fifty", "F")
	for _, c := range []struct {
		url, content string
		status       int
	}{
		{big.URLs.Chime, "@All deploy", 400},
		{big.URLs.Chime, "@Present deploy", 400},
		{big.URLs.Chime, "@m01 deploy", 200},
		{fifty.URLs.Chime, "@All deploy", 200},
	} {
		r := post(t, c.url, "application/json", fmt.Sprintf(`{"Content":%q}`, c.content))
		if r.Status != c.status {
			t.Errorf("%q: %d %s, want %d", c.content, r.Status, r.Body, c.status)
		}
		if c.status == 400 && r.json(t)["Code"] != "BadRequest" {
			t.Errorf("body %s", r.Body)
		}
	}
	if n := len(messages(t, s, "big")); n != 1 {
		t.Errorf("big room has %d messages, want 1", n)
	}
}
