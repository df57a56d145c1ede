package app

import (
	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/render"
)

// renderer adapts render.Renderer to chat.Renderer.
type renderer struct{ r *render.Renderer }

func (a renderer) Render(format, text string) chat.Rendered {
	res := a.r.Render(render.Format(format), text)
	out := chat.Rendered{HTML: res.HTML}
	if len(res.Mentions) > 0 {
		out.Mentions = make([]chat.MentionToken, len(res.Mentions))
		for i, m := range res.Mentions {
			out.Mentions[i] = chat.MentionToken{Kind: string(m.Kind), Ref: m.Ref}
		}
	}
	return out
}
