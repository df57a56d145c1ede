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

// FuzzTemplate: any template source, run as a delivery runs it for an event of every type
// and each chat target, ends within its budget without a panic, and what it renders is
// one JSON object of at most MaxBodyBytes. testdata/fuzz/FuzzTemplate holds templates that
// ran without end before the budget.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`{"text":{{json .Text}}}`,
		`{"cardsV2":[{"cardId":"m","card":{"header":{"title":{{json .Sender}}}}}]{{if .ThreadKey}},"thread":{"threadKey":{{json .ThreadKey}}}{{end}}}`,
		`{"text":{{json (printf "%s joined %s" (index (index .Payload.users 0) "name") .Room.Name)}}}`,
		`{"t":{{json (truncate 4 .Type)}},"r":{{json (default "none" .Room.Name)}},"m":{{json (markup "slack")}}}`,
		`{"n":{{len .Message.Mentions}},"u":{{json (join "," .Payload.message.mentions)}}}`,
		`{{define "x"}}{{json .}}{{end}}{"r":{{template "x" .Room.Name}},"s":{{block "y" .Sender}}{{json .}}{{end}}}`,
		`{"a":"{{range $i, $m := .Message.Mentions}}{{$i}}{{else}}none{{end}}{{with .Reply}}{{js .Excerpt}}{{end}}"}`,
		`{{$s := "\\"}}{{$s = js $s}}{{$s = js $s}}{"a":{{json (printf "%0*d%[1]x" 99 1)}}}`,
		`{"a":{{json (print (urlquery "a b") (html "<"))}}}`,
	} {
		f.Add(s, uint8(0))
	}
	targets := []string{chat.TargetSlack, chat.TargetMattermost, chat.TargetGoogleChat, chat.TargetChime}
	f.Fuzz(func(t *testing.T, src string, which uint8) {
		if len(src) > chat.MaxTemplateBytes {
			t.Skip()
		}
		target := Target{Format: targets[int(which)%len(targets)], Template: src}
		began := time.Now()
		for _, typ := range chat.EventTypes {
			ev, ok := SampleEvent(typ)
			if !ok {
				continue
			}
			req, err := Build(target, &ev)
			if err != nil {
				continue
			}
			if len(req.Body) > MaxBodyBytes {
				t.Fatalf("%s: body of %d bytes", typ, len(req.Body))
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(req.Body, &obj); err != nil {
				t.Fatalf("%s: body %q is not a JSON object: %v", typ, req.Body, err)
			}
		}
		if d := time.Since(began); d > 30*time.Second {
			t.Fatalf("the template ran %v for the sample events", d)
		}
	})
}
