package inbound_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/apptest"
)

func TestMattermost(t *testing.T) {
	t.Parallel()
	f := setup(t, apptest.Options{})
	v := f.valid
	u := v.URLs.Mattermost
	mpCT, mpBody := multipartBody("text", "from *multipart*", "username", "ci")
	mpPayloadCT, mpPayload := multipartBody("payload", `{"text":"payload in multipart"}`)
	mpEmptyCT, mpEmpty := multipartBody("username", "ci")
	cases := []struct {
		name, url, ct, body string
		status              int
		id                  string // AppError id ("" for success)
		text                string // stored text on success
	}{
		{"no content type", u, "", `{"text":"none"}`, 200, "", "none"},
		{"json", u, "application/json", `{"text":"json","username":"ci","icon_url":"https://x.example/i.png","props":{"card":"c"}}`, 200, "", "json"},
		{"form payload", u, "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":"form"}`), 200, "", "form"},
		{"multipart fields", u, mpCT, mpBody, 200, "", "from *multipart*"},
		{"multipart payload", u, mpPayloadCT, mpPayload, 200, "", "payload in multipart"},
		{"other content type", u, "text/plain", `{"text":"plain"}`, 200, "", "plain"},
		{"raw newlines and tabs", u, "application/json", "{\"text\":\"line one\nline\ttwo\",\"attachments\":[{\"title\":\"t\nu\"}]}", 200, "", "line one\nline\ttwo\n\n**t u**"},
		{"attachments only", u, "application/json", `{"attachments":[{"pretext":"p","title":"T","title_link":"https://x.example/t","text":"body","fields":[{"title":"k","value":"v"}]}]}`, 200, "", "p\n**[T](https://x.example/t)**\nbody\n**k**\nv"},
		{"unparsable", u, "application/json", `{"text":`, 400, "web.incoming_webhook.parse.app_error", ""},
		{"bad media type", u, "text/;;", `{"text":"x"}`, 400, "web.incoming_webhook.parse.app_error", ""},
		{"empty text", u, "application/json", `{"text":""}`, 400, "web.incoming_webhook.text.app_error", ""},
		{"multipart without text", u, mpEmptyCT, mpEmpty, 400, "web.incoming_webhook.text.app_error", ""},
		{"unknown hook", wrongToken(u, v), "application/json", `{"text":"x"}`, 400, "web.incoming_webhook.invalid.app_error", ""},
		{"regenerated", f.regenerated.URLs.Mattermost, "application/json", `{"text":"x"}`, 404, "web.incoming_webhook.invalid.app_error", ""},
		{"deleted", f.deleted.URLs.Mattermost, "application/json", `{"text":"x"}`, 404, "web.incoming_webhook.invalid.app_error", ""},
		{"room deleted", f.gone.URLs.Mattermost, "application/json", `{"text":"x"}`, 404, "app.channel.get.existing.app_error", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, c.url, c.ct, c.body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, c.status, r.Body)
			}
			if c.id == "" {
				if r.Body != "ok" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
					t.Fatalf("success %q %q", r.Body, r.Header.Get("Content-Type"))
				}
				if m := lastMessage(t, f.s, "r"); m.Text != c.text || m.Format != "markdown" || m.Sender.ID != v.ID {
					t.Fatalf("stored %q (%s, %+v), want %q", m.Text, m.Format, m.Sender, c.text)
				}
				return
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
				t.Fatalf("body %q", r.Body)
			}
			if e["id"] != c.id || e["status_code"] != float64(c.status) || e["message"] == "" {
				t.Fatalf("AppError %s, want id %s", r.Body, c.id)
			}
			for _, k := range []string{"detailed_error", "request_id"} {
				if _, ok := e[k]; !ok {
					t.Fatalf("AppError lacks %s: %s", k, r.Body)
				}
			}
		})
	}
}
