package chat

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// A post's event payload is the largest value the writer encodes, and it has to be
// encoded there: it names what the writer read (the room, the sender's name, the thread,
// the mentions). Most of its bytes are the message's text and HTML, which nothing in the
// writer changes. So a post encodes those before it enters the writer (encodeText), and
// the writer writes the payload around them with appendMessagePayload: plain appends, no
// reflection, and the bytes json.Marshal(MessagePayload) gives (the tests compare the two
// on every field, and fail if a field is added to a type the appender writes).

// encodedText is a message's text, format and HTML as the JSON members
// `"text":…,"format":…,"html":…`, encoded before the writer. The source strings are kept
// so that the writer uses the encoding only for the message it was made from.
type encodedText struct {
	text, format, html string
	json               []byte
}

func encodeText(m Message) *encodedText {
	b := make([]byte, 0, textMembersSize(m))
	return &encodedText{text: m.Text, format: m.Format, html: m.HTML, json: appendTextMembers(b, m.Text, m.Format, m.HTML)}
}

// textMembersSize is room enough, most times, for appendTextMembers' output: HTML's tags
// grow by escaping (each < and > takes six bytes), text seldom does.
func textMembersSize(m Message) int {
	return 32 + len(m.Format) + len(m.Text) + len(m.Text)/8 + len(m.HTML) + len(m.HTML)/2
}

func appendTextMembers(b []byte, text, format, html string) []byte {
	b = append(b, `"text":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"format":`...)
	b = appendJSONString(b, format)
	b = append(b, `,"html":`...)
	return appendJSONString(b, html)
}

// messagePayloadJSON encodes p as json.Marshal does. pre, if not nil and made from p's
// message text, format and HTML, is used for them.
func messagePayloadJSON(p MessagePayload, pre *encodedText) json.RawMessage {
	m := p.Message
	if !jsonTime(m.CreatedAt) || m.UpdatedAt != nil && !jsonTime(*m.UpdatedAt) {
		return mustJSON(p) // the error json.Marshal gives for such a time
	}
	if pre != nil && (pre.text != m.Text || pre.format != m.Format || pre.html != m.HTML) {
		pre = nil
	}
	// The members' names, punctuation and times take under 320 bytes; the strings are
	// counted as they are (escaping them seldom adds bytes), so the buffer seldom grows.
	size := 320 + len(p.Room.ID) + len(p.Room.Name) + len(m.ID) + len(m.RoomID) + len(m.ThreadID) +
		len(m.Sender.Type) + len(m.Sender.ID) + len(m.Sender.Name) + len(m.Sender.AvatarURL) + 48*len(m.Mentions)
	if pre != nil {
		size += len(pre.json)
	} else {
		size += textMembersSize(m)
	}
	if p.ThreadRoot != nil {
		size += 64 + len(p.ThreadRoot.ID) + len(p.ThreadRoot.SenderName) + len(p.ThreadRoot.Excerpt)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"room":{"id":`...)
	b = appendJSONString(b, p.Room.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Room.Name)
	b = append(b, `,"member_count":`...)
	b = strconv.AppendInt(b, int64(p.Room.MemberCount), 10)
	b = append(b, `},"message":{"id":`...)
	b = appendJSONString(b, m.ID)
	b = append(b, `,"room_id":`...)
	b = appendJSONString(b, m.RoomID)
	b = append(b, `,"thread_id":`...)
	b = appendJSONString(b, m.ThreadID)
	b = append(b, `,"sender":{"type":`...)
	b = appendJSONString(b, m.Sender.Type)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, m.Sender.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, m.Sender.Name)
	if m.Sender.AvatarURL != "" {
		b = append(b, `,"avatar_url":`...)
		b = appendJSONString(b, m.Sender.AvatarURL)
	}
	b = append(b, "},"...)
	if pre != nil {
		b = append(b, pre.json...)
	} else {
		b = appendTextMembers(b, m.Text, m.Format, m.HTML)
	}
	b = append(b, `,"mentions":`...)
	if m.Mentions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, x := range m.Mentions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendJSONString(b, x.Type)
			if x.UserID != "" {
				b = append(b, `,"user_id":`...)
				b = appendJSONString(b, x.UserID)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, m.CreatedAt)
	if m.UpdatedAt != nil {
		b = append(b, `,"updated_at":`...)
		b = appendJSONTime(b, *m.UpdatedAt)
	}
	if m.RelayHops != 0 {
		b = append(b, `,"relay_hops":`...)
		b = strconv.AppendInt(b, int64(m.RelayHops), 10)
	}
	b = append(b, '}')
	if r := p.ThreadRoot; r != nil {
		b = append(b, `,"thread_root":{"id":`...)
		b = appendJSONString(b, r.ID)
		b = append(b, `,"sender_name":`...)
		b = appendJSONString(b, r.SenderName)
		b = append(b, `,"excerpt":`...)
		b = appendJSONString(b, r.Excerpt)
		b = append(b, '}')
	}
	return append(b, '}')
}

// jsonTime reports whether t encodes as time.Time.MarshalJSON encodes it without error
// (a four-digit year, a zone offset under a day).
func jsonTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s as encoding/json writes a string with its default HTML
// escaping: quotes, backslashes and control characters escaped (\b \f \n \r \t by name,
// others as \u00XX), <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 as escapes,
// and each byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
