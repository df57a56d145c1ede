package inbound_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/inbound"
	"github.com/chathooks/chathooks/internal/render"
)

// The request path of an incoming webhook around the writer, one step at a time (the
// response encoding is BenchmarkStepReply, inside the package). Bodies: the Chime
// documentation's own example (emoji, a link, an email address, @All and @Present) and
// the same length of plain text.
const (
	stepSeedContent  = "Message Body emoji test: :) :+1: link test: http://sample.com email test: marymajor@example.com All member callout: @All All Present member callout: @Present"
	stepPlainContent = "Disk usage on db-primary-01 is at 91 percent, threshold 90 percent. Please investigate soon. Nothing else to report here, ok"
)

func BenchmarkStepDecode(b *testing.B) {
	for _, c := range []struct{ name, content string }{{"chime-seed", stepSeedContent}, {"plain", stepPlainContent}} {
		body := []byte(`{"Content":"` + c.content + `"}`)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if s, err := inbound.ParseChime(body); err != nil || s != c.content {
					b.Fatalf("%q %v", s, err)
				}
			}
		})
	}
}

// BenchmarkStepDecodeGoogleChat decodes a Google Chat message with a thread key, as the
// benchmark's Google Chat posts send it.
func BenchmarkStepDecodeGoogleChat(b *testing.B) {
	body := []byte(`{"text":"` + stepPlainContent + `","thread":{"threadKey":"alert-3"}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if m, err := inbound.ParseGoogleChat(body, nil); err != nil || m.Text != stepPlainContent || m.ThreadKey != "alert-3" {
			b.Fatalf("%+v %v", m, err)
		}
	}
}

func BenchmarkStepRender(b *testing.B) {
	r := render.New()
	for _, c := range []struct{ name, content string }{{"chime-seed", stepSeedContent}, {"plain", stepPlainContent}} {
		b.Run(c.name, func(b *testing.B) {
			r.Render(render.Markdown, c.content)
			b.SetBytes(int64(len(c.content)))
			b.ReportAllocs()
			for b.Loop() {
				r.Render(render.Markdown, c.content)
			}
		})
	}
}

// BenchmarkStepAuth authenticates webhook tokens round-robin over 1,000 webhooks on a
// real server's service (SQLite).
func BenchmarkStepAuth(b *testing.B) {
	s := apptest.Start(b, apptest.Options{})
	type cred struct{ id, token string }
	var creds []cred
	for i := range 100 {
		id := fmt.Sprintf("auth-%03d", i)
		s.Must(201, "POST", "/api/v1/rooms", map[string]any{"id": id, "name": id})
		for range 10 {
			var h hook
			s.Must(201, "POST", "/api/v1/rooms/"+id+"/webhooks", map[string]any{"name": "Bench"}).JSON(b, &h)
			creds = append(creds, cred{h.ID, h.Token})
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := creds[i%len(creds)]
		i++
		if wh, err := s.Service.AuthenticateWebhook(ctx, c.id, c.token); err != nil || wh.ID != c.id {
			b.Fatalf("%+v %v", wh, err)
		}
	}
}
