package relay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// TestTemplateBudget: templates that would run or allocate without end — every one ran
// for minutes or tried to build gigabytes before the budget — end with the budget's
// error, each within a bound far below a delivery's timeout, on an event with 10,000
// mentions. Templates that stay within the budget still render.
func TestTemplateBudget(t *testing.T) {
	t.Parallel()
	m := chat.Message{ID: "msg_1", ThreadID: "msg_1", Sender: chat.Sender{Name: "Alice"}, Text: "hi @bob", Format: chat.FormatMarkdown}
	for range 10_000 {
		m.Mentions = append(m.Mentions, chat.Mention{Type: "user", UserID: "bob"})
	}
	ev := messageEvent(t, chat.EventMessageSend, m, nil)

	var fanOut strings.Builder // 61 templates, each calling the one below twice: 2^60 calls
	fanOut.WriteString(`{{define "t0"}}{{end}}`)
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&fanOut, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i-1, i-1)
	}
	fanOut.WriteString(`{{template "t60"}}{"a":1}`)
	doubling := `{{$a := printf "%0100000d" 0}}`
	for _, v := range []string{"b", "c", "d", "e"} {
		doubling += `{{$` + v + ` := printf "%s%s%s%s%s%s%s%s"` + strings.Repeat(" $a", 8) + `}}{{$a = $` + v + `}}`
	}
	js := strings.Repeat(`{{$s = js $s}}`, 40)

	for _, c := range []struct {
		name, src string
		want      error
	}{
		{"range over a large number", `{{range 100000000}}{{end}}{"a":1}`, errSteps},
		{"nested ranges over a large number", `{{range 1000000}}{{range 1000000}}{{end}}{{end}}{"a":1}`, errSteps},
		{"ranges nested over a long list", `{{range .Message.Mentions}}{{range $.Message.Mentions}}{{end}}{{end}}{"a":1}`, errSteps},
		{"templates fanning out", fanOut.String(), errSteps},
		{"recursion halving nothing", `{{define "r"}}{{if .}}{{template "r" (slice . 1)}}{{template "r" (slice . 1)}}{{end}}{{end}}{{template "r" "` + strings.Repeat("x", 60) + `"}}{"a":1}`, errSteps},
		{"printf doubling", doubling + `{"a":1}`, errFuncResult},
		{"js doubling a backslash", `{{$s := "\\"}}` + js + `{"a":1}`, errFuncResult},
		{"printf repeating one wide argument", `{{printf "` + strings.Repeat("%[1]0999999d", 2000) + `" 1}}{"a":1}`, errFuncResult},
		{"join with a long separator", `{{join (printf "%0200000d" 0) .Payload.message.mentions}}{"a":1}`, errFuncResult},
		{"many wide results", `{{range 200}}{{$x := printf "%0200000d" 0}}{{end}}{"a":1}`, errFuncBytes},
		{"output past the body limit", `{"a":"{{range 100000}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}"}`, errTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			began := time.Now()
			go func() {
				_, err := Build(Target{Format: chat.TargetSlack, Template: c.src}, ev)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, c.want) {
					t.Fatalf("error %v, want %v", err, c.want)
				}
				t.Logf("%v: %v", time.Since(began).Round(time.Millisecond), err)
			case <-time.After(60 * time.Second):
				t.Fatal("still running after 60 s")
			}
		})
	}

	for _, src := range []string{
		`{"n":{{len .Message.Mentions}},"u":{{range $i, $m := .Message.Mentions}}{{if eq $i 0}}{{json $m.UserID}}{{end}}{{end}}}`,
		`{"t":{{json (printf "%s: %s" .Sender .Text)}},"l":{{json (print 1 2)}},"e":{{json (html "<b>")}},"j":{{json (js "a'b")}},"q":{{json (urlquery "a b")}}}`,
		`{{define "x"}}{{json .}}{{end}}{"r":{{template "x" .Room.Name}},"s":{{block "y" .Sender}}{{json .}}{{end}}}`,
		`{"n":"{{range 3}}{{.}}{{end}}"}`,
	} {
		r, err := Build(Target{Format: chat.TargetSlack, Template: src}, ev)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		t.Logf("%s", r.Body)
	}
}
