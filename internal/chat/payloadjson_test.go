package chat

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/ids"
)

// samplePayload is a payload with every member set, its strings s.
func samplePayload(s string) MessagePayload {
	created := time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC)
	updated := created.Add(90 * time.Second)
	return MessagePayload{
		Room: RoomRef{ID: "room-" + s, Name: s, MemberCount: 7},
		Message: Message{
			ID: "msg_" + s, RoomID: "room-" + s, ThreadID: s,
			Sender: Sender{Type: SenderWebhook, ID: "whk_" + s, Name: s, AvatarURL: s},
			Text:   s, Format: s, HTML: "<p>" + s + "</p>",
			Mentions:  []Mention{{Type: "all"}, {Type: s, UserID: s}},
			CreatedAt: created, UpdatedAt: &updated, RelayHops: 3,
		},
		ThreadRoot: &ThreadRoot{ID: s, SenderName: s, Excerpt: s},
	}
}

// checkPayload fails unless the appender gives json.Marshal's bytes for p, with the text
// encoded beforehand and without.
func checkPayload(t testing.TB, p MessagePayload) {
	t.Helper()
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := messagePayloadJSON(p, nil); !bytes.Equal(got, want) {
		t.Fatalf("without encoded text:\n got %s\nwant %s", got, want)
	}
	if got := messagePayloadJSON(p, encodeText(p.Message)); !bytes.Equal(got, want) {
		t.Fatalf("with encoded text:\n got %s\nwant %s", got, want)
	}
}

func TestMessagePayloadJSONIsMarshal(t *testing.T) {
	strs := []string{
		"", "plain", `quote " and backslash \`, "<b>&amp;</b> >", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "é ü 日本 🎉", "line\u2028para\u2029", "bad \xff\xfe utf8 \xe6\x97", "\xed\xa0\x80",
		":+1: https://ci.example.com/run/42?a=1&b=2 @Present",
	}
	for _, s := range strs {
		checkPayload(t, samplePayload(s))
	}
	// The members that are left out when empty, and a nil list of mentions.
	p := samplePayload("x")
	p.Message.Sender.AvatarURL, p.Message.UpdatedAt, p.Message.RelayHops, p.ThreadRoot = "", nil, 0, nil
	p.Message.Mentions = nil
	checkPayload(t, p)
	p.Message.Mentions = []Mention{}
	p.Room.MemberCount, p.Message.RelayHops = 0, -2
	checkPayload(t, p)
	// A time in another zone, and the zero time.
	p.Message.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -(9*3600+30*60)))
	checkPayload(t, p)
	p.Message.CreatedAt = time.Time{}
	checkPayload(t, p)
}

// The payload is encoded into one buffer sized beforehand: a post's event allocates once,
// never again to grow it, whether its text was encoded before or not.
func TestMessagePayloadJSONAllocatesOnce(t *testing.T) {
	now := time.Now()
	p := MessagePayload{
		Room: RoomRef{ID: ids.New("room", now), Name: "deploys", MemberCount: 12},
		Message: Message{
			ID: ids.New("msg", now), RoomID: ids.New("room", now), ThreadID: ids.New("msg", now),
			Sender: Sender{Type: SenderWebhook, ID: ids.New("whk", now), Name: "CI"},
			Text:   "chbench:1; disk usage 91% on host-42:/var, see runbook", Format: "markdown",
			Mentions: []Mention{}, CreatedAt: now,
		},
	}
	p.Message.HTML = "<p>" + p.Message.Text + "</p>"
	reply := p
	reply.ThreadRoot = &ThreadRoot{ID: ids.New("msg", now), SenderName: "CI", Excerpt: p.Message.Text}
	for _, p := range []MessagePayload{p, reply} {
		pre := encodeText(p.Message)
		if n := testing.AllocsPerRun(100, func() { messagePayloadJSON(p, pre) }); n != 1 {
			t.Errorf("with encoded text: %v allocations, want 1", n)
		}
		if n := testing.AllocsPerRun(100, func() { messagePayloadJSON(p, nil) }); n != 1 {
			t.Errorf("without: %v allocations, want 1", n)
		}
	}
}

func TestMessagePayloadJSONUsesOnlyItsOwnText(t *testing.T) {
	p := samplePayload("one")
	other := encodeText(samplePayload("two").Message)
	want, _ := json.Marshal(p)
	if got := messagePayloadJSON(p, other); !bytes.Equal(got, want) {
		t.Fatalf("a text encoded for another message was used:\n got %s\nwant %s", got, want)
	}
	// The same text with another format or HTML.
	for _, change := range []func(*Message){
		func(m *Message) { m.Format = "other" },
		func(m *Message) { m.HTML = "<p>other</p>" },
	} {
		pre := encodeText(p.Message)
		q := p
		change(&q.Message)
		want, _ := json.Marshal(q)
		if got := messagePayloadJSON(q, pre); !bytes.Equal(got, want) {
			t.Fatalf("a stale encoding was used:\n got %s\nwant %s", got, want)
		}
	}
}

func TestMessagePayloadJSONTimeMarshalRefuses(t *testing.T) {
	p := samplePayload("x")
	p.Message.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	defer func() {
		if recover() == nil {
			t.Fatal("a year json.Marshal refuses was encoded")
		}
	}()
	messagePayloadJSON(p, nil)
}

// TestMessagePayloadJSONKnowsEveryField fails when a field is added to, removed from or
// renamed in a type the appender writes: the appender then has to be changed with it.
func TestMessagePayloadJSONKnowsEveryField(t *testing.T) {
	written := map[reflect.Type][]string{
		reflect.TypeFor[MessagePayload](): {"room", "message", "thread_root,omitempty"},
		reflect.TypeFor[RoomRef]():        {"id", "name", "member_count"},
		reflect.TypeFor[Message](): {"id", "room_id", "thread_id", "sender", "text", "format", "html", "mentions",
			"created_at", "updated_at,omitempty", "relay_hops,omitempty"},
		reflect.TypeFor[Sender]():     {"type", "id", "name", "avatar_url,omitempty"},
		reflect.TypeFor[Mention]():    {"type", "user_id,omitempty"},
		reflect.TypeFor[ThreadRoot](): {"id", "sender_name", "excerpt"},
	}
	for typ, want := range written {
		var got []string
		for f := range typ.Fields() {
			got = append(got, f.Tag.Get("json"))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s's JSON fields are %q; messagePayloadJSON writes %q: change it with the type", typ, got, want)
		}
		for m := range reflect.PointerTo(typ).Methods() {
			if m.Name == "MarshalJSON" || m.Name == "MarshalText" {
				t.Errorf("%s has %s, which messagePayloadJSON does not call", typ, m.Name)
			}
		}
	}
}

func FuzzMessagePayloadJSON(f *testing.F) {
	f.Add("plain", "<p>x</p>", "name", int64(0), 2)
	f.Add("\xff\u2028\"\\\x00", "&<>", "\t", int64(1700000000123456789), 0)
	f.Fuzz(func(t *testing.T, text, html, name string, nanos int64, mentions int) {
		p := samplePayload(name)
		p.Message.Text, p.Message.HTML = text, html
		p.Message.CreatedAt = time.Unix(0, nanos).UTC()
		p.Message.Mentions = p.Message.Mentions[:min(max(mentions, 0), len(p.Message.Mentions))]
		if strings.HasPrefix(name, "n") {
			p.ThreadRoot, p.Message.UpdatedAt = nil, nil
		}
		checkPayload(t, p)
	})
}

func TestAppendJSONStringEveryRune(t *testing.T) {
	var buf []byte
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r == 0xD800 {
			r = 0xE000 // surrogates do not encode
		}
		s := "a" + string(r) + "b"
		want, _ := json.Marshal(s)
		if buf = appendJSONString(buf[:0], s); !bytes.Equal(buf, want) {
			t.Fatalf("%U: got %s, want %s", r, buf, want)
		}
	}
	for c := 0; c < 256; c++ { // every single byte, valid UTF-8 or not
		s := string([]byte{byte(c)})
		want, _ := json.Marshal(s)
		if buf = appendJSONString(buf[:0], s); !bytes.Equal(buf, want) {
			t.Fatalf("byte %#x: got %s, want %s", c, buf, want)
		}
	}
}

// BenchmarkMessagePayloadJSON compares what a post's payload costs in the writer: json.Marshal
// as it was, and the appender with the text encoded before.
func BenchmarkMessagePayloadJSON(b *testing.B) {
	p := samplePayload("Deploy finished :+1:")
	p.Message.Text = "Deploy finished :+1: details: https://ci.example.com/run/42 @Present"
	p.Message.HTML = `<p>Deploy finished 👍 details: <a href="https://ci.example.com/run/42" rel="nofollow">https://ci.example.com/run/42</a> <span class="mention">@Present</span></p>`
	p.Message.UpdatedAt, p.ThreadRoot, p.Message.Mentions = nil, nil, []Mention{{Type: "present"}}
	pre := encodeText(p.Message)
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			mustJSON(p)
		}
	})
	b.Run("writer", func(b *testing.B) {
		for b.Loop() {
			messagePayloadJSON(p, pre)
		}
	})
	b.Run("before-writer", func(b *testing.B) {
		for b.Loop() {
			encodeText(p.Message)
		}
	})
}
