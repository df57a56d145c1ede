package inbound_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWebhookTokensAreStrongAndNeverLogged: tokens carry at least 128 random bits, and
// neither the tokens nor the admin token appear in the server's log at debug level, text
// or JSON, across creating, posting through every dialect (good, wrong and revoked tokens,
// bad bodies), regenerating and deleting webhooks.
func TestWebhookTokensAreStrongAndNeverLogged(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var logs syncBuffer
			var h slog.Handler = slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			const admin = "admin-token-that-must-never-be-logged"
			a, err := app.New(context.Background(), app.Config{
				Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: admin, RoomRateLimit: 1, RoomRateBurst: 1,
				ShutdownTimeout: 5 * time.Second, Version: "test",
			}, slog.New(h), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			base := "http://" + a.Addr()
			do := func(method, path, body string, hdr ...string) int {
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			auth := []string{"Authorization", "Bearer " + admin, "Content-Type", "application/json"}
			do("POST", "/api/v1/users", `{"id":"u","name":"U"}`, auth...)
			do("POST", "/api/v1/rooms", `{"id":"r","name":"R","member_ids":["u"]}`, auth...)
			var secrets []string
			seen := map[string]bool{}
			for i := range 9 { // a room holds at most 10 webhooks
				req, _ := http.NewRequest("POST", base+"/api/v1/rooms/r/webhooks", strings.NewReader(`{"name":"w"}`))
				req.Header.Set("Authorization", "Bearer "+admin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var wh hook
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err := jsonUnmarshal(b, &wh); err != nil || wh.Token == "" {
					t.Fatalf("create webhook: %s %v", b, err)
				}
				raw, err := base64.RawURLEncoding.DecodeString(wh.Token)
				if err != nil || len(raw)*8 < 128 {
					t.Fatalf("token %d is %q: %d bits of base64url (%v), want >= 128", i, wh.Token, len(raw)*8, err)
				}
				if seen[wh.Token] {
					t.Fatal("two webhooks got the same token")
				}
				seen[wh.Token] = true
				secrets = append(secrets, wh.Token)
				if i < 2 {
					u := wh.URLs
					do("POST", strings.TrimPrefix(u.Chime, "http://"+a.Addr()), `{"Content":"hi"}`)
					do("POST", strings.TrimPrefix(u.GoogleChat, "http://"+a.Addr()), `{"text":"hi"}`)
					do("POST", strings.TrimPrefix(u.Slack, "http://"+a.Addr()), `{"text":"hi"}`)
					do("POST", strings.TrimPrefix(u.Mattermost, "http://"+a.Addr()), `payload={"text":"hi"}`, "Content-Type", "application/x-www-form-urlencoded")
					// Flood past the rate limit, bad bodies and a near-miss token.
					do("POST", strings.TrimPrefix(u.Slack, "http://"+a.Addr()), `{"text":"again"}`)
					do("POST", strings.TrimPrefix(u.Chime, "http://"+a.Addr()), `{not json`)
					do("POST", "/hooks/"+wh.Token[:len(wh.Token)-1]+"A", `{"text":"x"}`)
					do("POST", "/services/r/"+wh.ID+"/"+wh.Token+"x", `{"text":"x"}`)
					// Regenerate (revoking the first token), then use the revoked one.
					req, _ := http.NewRequest("POST", base+"/api/v1/webhooks/"+wh.ID+"/regenerate", nil)
					req.Header.Set("Authorization", "Bearer "+admin)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						var re hook
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if jsonUnmarshal(b, &re) == nil && re.Token != "" {
							secrets = append(secrets, re.Token)
						}
					}
					// A semicolon in the query makes net/http log a warning about the query.
					do("POST", "/incomingwebhooks/"+wh.ID+"?token="+wh.Token+";x=1", `{"Content":"semicolon"}`)
					do("POST", "/hooks/"+wh.Token, `{"text":"revoked"}`)
					do("DELETE", "/api/v1/webhooks/"+wh.ID, "", auth...)
					do("POST", "/hooks/"+wh.Token, `{"text":"deleted"}`)
				}
			}
			do("GET", "/api/v1/rooms", "", "Authorization", "Bearer "+admin+"x")
			// Wait logs the start and the shutdown.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if len(out) == 0 {
				t.Fatal("the server logged nothing at debug level: the check proves nothing")
			}
			for _, s := range append(secrets, admin) {
				for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
					if strings.Contains(out, form) {
						t.Fatalf("a secret appears in the log: %q", form)
					}
				}
			}
			t.Logf("%d bytes of %s log, %d secrets absent", len(out), format, len(secrets)+1)
		})
	}
}

// TestWebhookCannotPostIntoAnotherRoom: two rooms, each with a webhook. Every dialect's URL
// is tried with every combination of the two rooms' ids, webhook ids and tokens in every
// place the URL carries them, with duplicated and extra query parameters and with body
// fields that name another channel. A post is accepted only when everything in the URL
// belongs to one webhook, and then lands in that webhook's room; nothing else lands anywhere.
func TestWebhookCannotPostIntoAnotherRoom(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	room(t, s, "room-a", "ua")
	room(t, s, "room-b", "ub")
	hooks := map[string]hook{"a": newHook(t, s, "room-a", "A"), "b": newHook(t, s, "room-b", "B")}
	roomOf := map[string]string{"a": "room-a", "b": "room-b"}
	type shape struct {
		name  string
		path  string
		ctype string
		body  string
		want  string // the room the post may land in ("" = must be refused)
	}
	var shapes []shape
	esc := url.QueryEscape
	pesc := url.PathEscape
	texts := 0
	text := func() string { texts++; return fmt.Sprintf("xroom-%d", texts) }
	sides := []string{"a", "b"}
	for _, r := range sides {
		for _, i := range sides {
			for _, k := range sides {
				room, id, tok := roomOf[r], hooks[i].ID, hooks[k].Token
				all := ""
				if r == i && i == k {
					all = roomOf[k]
				}
				idTok := ""
				if i == k {
					idTok = roomOf[k]
				}
				combo := fmt.Sprintf("room=%s id=%s token=%s", r, i, k)
				// Chime: id in the path, token in the query (no room).
				if r == "a" {
					shapes = append(shapes,
						shape{"chime " + combo, "/incomingwebhooks/" + pesc(id) + "?token=" + esc(tok), "application/json", `{"Content":"%s"}`, idTok},
						shape{"chime +room param " + combo, "/incomingwebhooks/" + pesc(id) + "?token=" + esc(tok) + "&room=room-b&space=room-b", "application/json", `{"Content":"%s"}`, idTok},
					)
				}
				// Google Chat: room in the path, id and token in the query.
				shapes = append(shapes,
					shape{"gchat " + combo, "/v1/spaces/" + pesc(room) + "/messages?key=" + esc(id) + "&token=" + esc(tok), "application/json", `{"text":"%s"}`, all},
					shape{"gchat thread in other space " + combo, "/v1/spaces/" + pesc(room) + "/messages?key=" + esc(id) + "&token=" + esc(tok) + "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "application/json", `{"text":"%s","thread":{"name":"spaces/room-b/threads/t1"}}`, all},
				)
				// Slack: room, id and token in the path; body "channel" names the other room.
				shapes = append(shapes,
					shape{"slack " + combo, "/services/" + pesc(room) + "/" + pesc(id) + "/" + pesc(tok), "application/json", `{"text":"%s"}`, all},
					shape{"slack channel override " + combo, "/services/" + pesc(room) + "/" + pesc(id) + "/" + pesc(tok), "application/json", `{"text":"%s","channel":"room-b"}`, all},
					shape{"slack form " + combo, "/services/" + pesc(room) + "/" + pesc(id) + "/" + pesc(tok), "application/x-www-form-urlencoded", `payload={"text":"%s","channel":"#room-a"}`, all},
				)
			}
		}
	}
	for _, k := range sides {
		tok, other := hooks[k].Token, hooks[map[string]string{"a": "b", "b": "a"}[k]].Token
		shapes = append(shapes,
			shape{"mattermost " + k, "/hooks/" + pesc(tok), "application/json", `{"text":"%s"}`, roomOf[k]},
			shape{"mattermost channel override " + k, "/hooks/" + pesc(tok), "application/json", `{"text":"%s","channel":"room-b","channel_id":"room-a"}`, roomOf[k]},
			shape{"mattermost form " + k, "/hooks/" + pesc(tok), "application/x-www-form-urlencoded", `payload={"text":"%s","channel":"room-b"}`, roomOf[k]},
			shape{"mattermost other token in query " + k, "/hooks/" + pesc(tok) + "?token=" + esc(other), "application/json", `{"text":"%s"}`, roomOf[k]},
			shape{"mattermost token with trailing slash " + k, "/hooks/" + pesc(tok) + "/", "application/json", `{"text":"%s"}`, ""},
			shape{"mattermost token + other " + k, "/hooks/" + pesc(tok) + pesc(other), "application/json", `{"text":"%s"}`, ""},
			// Duplicated parameters: the first value is the one checked, and it must match
			// the rest of the URL.
			shape{"chime duplicated token " + k, "/incomingwebhooks/" + pesc(hooks[k].ID) + "?token=" + esc(other) + "&token=" + esc(tok), "application/json", `{"Content":"%s"}`, ""},
			shape{"gchat duplicated key " + k, "/v1/spaces/" + roomOf[k] + "/messages?key=" + esc(hooks[map[string]string{"a": "b", "b": "a"}[k]].ID) + "&key=" + esc(hooks[k].ID) + "&token=" + esc(tok), "application/json", `{"text":"%s"}`, ""},
			// Traversal in the path: cleaned by the router into a redirect, never a post.
			shape{"slack traversal " + k, "/services/room-b/../" + roomOf[k] + "/" + pesc(hooks[k].ID) + "/" + pesc(tok), "application/json", `{"text":"%s"}`, ""},
			shape{"slack encoded slash in room " + k, "/services/" + pesc("room-b/"+roomOf[k]) + "/" + pesc(hooks[k].ID) + "/" + pesc(tok), "application/json", `{"text":"%s"}`, ""},
		)
	}
	count := func(room string) map[string]int {
		out := map[string]int{}
		for _, m := range messages(t, s, room) {
			out[m.Text]++
		}
		return out
	}
	accepted := 0
	for _, sh := range shapes {
		txt := text()
		r := post(t, s.URL+sh.path, sh.ctype, fmt.Sprintf(sh.body, txt))
		inA, inB := count("room-a")[txt], count("room-b")[txt]
		ok := r.Status >= 200 && r.Status < 300
		switch {
		case sh.want == "" && (ok || inA+inB > 0):
			t.Errorf("%s: %d %q; landed a=%d b=%d, want refused", sh.name, r.Status, r.Body, inA, inB)
		case sh.want != "" && !ok:
			t.Errorf("%s: %d %q, want accepted into %s", sh.name, r.Status, r.Body, sh.want)
		case sh.want == "room-a" && (inA != 1 || inB != 0), sh.want == "room-b" && (inB != 1 || inA != 0):
			t.Errorf("%s: landed a=%d b=%d, want once in %s only", sh.name, inA, inB, sh.want)
		}
		if ok {
			accepted++
		}
	}
	t.Logf("%d URL shapes tried, %d accepted into their own room, %d refused", len(shapes), accepted, len(shapes)-accepted)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
