package relay

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/render"
)

// FuzzBuild: any text in any markup, rendered as the server renders it, becomes a body
// that is one JSON object for every target, within the target's text limit.
func FuzzBuild(f *testing.F) {
	for _, s := range []string{
		"deploy **done** @bob <https://x.example|x> :rocket:",
		"*a* _b_ ~c~ `d` ```e```\n> q\n- l\n1. n",
		"| a | b |\n|---|---|\n| 1 | 2 |",
		"<users/all> <!here> <@U1> &amp; <>",
		"",
	} {
		f.Add(s, uint8(0))
	}
	r := render.New()
	formats := []render.Format{render.Markdown, render.Slack, render.GChat}
	f.Fuzz(func(t *testing.T, text string, which uint8) {
		rf := formats[int(which)%len(formats)]
		m := chat.Message{ID: "m1", ThreadID: "m1", Sender: chat.Sender{Name: text}, Text: text, Format: string(rf), HTML: r.Render(rf, text).HTML}
		p, err := json.Marshal(chat.MessagePayload{Message: m})
		if err != nil {
			t.Skip()
		}
		ev := &chat.Event{ID: "e", Type: chat.EventMessageSend, CreatedAt: time.Unix(0, 0), Payload: p}
		for _, target := range []string{chat.TargetSlack, chat.TargetMattermost, chat.TargetGoogleChat, chat.TargetChime} {
			req, err := Build(Target{Format: target, URL: "https://x.example/h?token=t"}, ev)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			var obj map[string]any
			if err := json.Unmarshal(req.Body, &obj); err != nil {
				t.Fatalf("%s: body %q: %v", target, req.Body, err)
			}
			if target == chat.TargetChime && len(obj["Content"].(string)) > chimeMaxBytes {
				t.Fatalf("chime content of %d bytes", len(obj["Content"].(string)))
			}
		}
	})
}
