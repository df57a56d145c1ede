package chat

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chathooks/chathooks/internal/ids"
)

// Message formats.
const (
	FormatMarkdown = "markdown"
	FormatGChat    = "gchat"
	FormatSlack    = "slack"
)

// Google Chat messageReplyOption values.
const (
	ReplyUnspecified      = "MESSAGE_REPLY_OPTION_UNSPECIFIED"
	ReplyFallbackToNew    = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
	ReplyOrFail           = "REPLY_MESSAGE_OR_FAIL"
	defaultMessageFormat  = FormatMarkdown
	mentionTypeAll        = "all"
	mentionTypePresent    = "present"
	mentionTypeUser       = "user"
	maxResolvedMentionsTo = 1000
)

// PostMessage is the one command every way of posting maps to: the REST API and each
// incoming-webhook dialect.
type PostMessage struct {
	RoomID string
	Sender Sender // user: Sender.ID must be a member; webhook: as configured on the webhook
	Text   string
	Format string // markdown (default) | gchat | slack

	ThreadID    string // reply in this thread (a thread id or any message id in it)
	ThreadKey   string // Google Chat thread key
	ReplyOption string // Google Chat messageReplyOption; "" behaves as unspecified

	// Idempotency: a repeat of (scope, key) returns the original message and creates nothing.
	IdempotencyScope, IdempotencyKey string

	// BroadcastMemberLimit: if > 0, an all/present mention in a room with more members fails
	// with invalid_argument (Chime's 50-member rule).
	BroadcastMemberLimit int

	// RelayHops: how many chathooks relays the message crossed (from the request's hop
	// header; 0 when posted directly).
	RelayHops int
}

// PostResult is the outcome of PostMessage.
type PostResult struct {
	Message Message
	Created bool // false when an idempotent repeat returned the original
}

// PostMessage validates, renders, resolves mentions and stores a message with its
// group_channel:message_send event, durably, before returning.
func (s *Service) PostMessage(ctx context.Context, in PostMessage) (PostResult, error) {
	if strings.TrimSpace(in.Text) == "" {
		return PostResult{}, Errorf(CodeInvalidArgument, "text is required")
	}
	if !utf8.ValidString(in.Text) {
		return PostResult{}, Errorf(CodeInvalidArgument, "text is not valid UTF-8")
	}
	if len(in.Text) > MaxTextBytes {
		return PostResult{}, Errorf(CodeInvalidArgument, "text is longer than %d bytes", MaxTextBytes)
	}
	if in.Format == "" {
		in.Format = defaultMessageFormat
	}
	if in.Sender.Type == SenderUser && in.Sender.ID == "" {
		return PostResult{}, Errorf(CodeInvalidArgument, "sender_id is required")
	}
	switch in.ReplyOption {
	case "", ReplyUnspecified, ReplyFallbackToNew, ReplyOrFail:
	default:
		return PostResult{}, Errorf(CodeInvalidArgument, "unknown messageReplyOption %q", in.ReplyOption)
	}
	// Rendering is CPU work: do it before entering the writer.
	r := s.render.Render(in.Format, in.Text)
	now := s.now()
	msg := Message{
		ID: ids.New("msg", now), RoomID: in.RoomID, Sender: in.Sender, Text: in.Text,
		Format: in.Format, HTML: r.HTML, Mentions: []Mention{}, CreatedAt: now, RelayHops: in.RelayHops,
	}
	// The text and its HTML are most of the event's payload: encoded here, not in the writer.
	text := encodeText(msg)
	members, membersRead, err := s.mentionable(ctx, in.RoomID, r.Mentions, now)
	if err != nil {
		return PostResult{}, err
	}
	var res PostResult
	err = s.write(WithPost(ctx, postHint(in)), func(tx Tx, emit func(*Event) error) error {
		res = PostResult{}
		if in.IdempotencyKey != "" {
			prev, err := tx.IdempotentMessage(in.IdempotencyScope, in.IdempotencyKey)
			if err != nil {
				return err
			}
			if prev != "" {
				m, err := tx.GetMessage(in.RoomID, prev)
				if err == nil {
					res.Message = m
					return nil
				}
				if !IsCode(err, CodeNotFound) {
					return err
				}
				// The original was deleted: post anew under the same key.
			}
		}
		room, agents, err := tx.RoomForPost(in.RoomID)
		if err != nil {
			return err
		}
		m := msg
		if in.Sender.Type == SenderUser {
			u, ok, err := tx.UserInRoom(in.RoomID, in.Sender.ID)
			if err != nil {
				return err
			}
			if !ok {
				return Errorf(CodePermissionDenied, "user %q is not a member of room %q", u.ID, in.RoomID)
			}
			m.Sender.Name = u.Name
		}
		if m.ThreadID, err = s.resolveThread(tx, in, m.ID); err != nil {
			return err
		}
		mem, err := memberUsers(tx, in.RoomID, r.Mentions, members, membersRead, now)
		if err != nil {
			return err
		}
		if m.Mentions, err = resolveMentions(room, r.Mentions, mem, in.BroadcastMemberLimit); err != nil {
			return err
		}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		if in.IdempotencyKey != "" {
			if err := tx.InsertIdempotency(in.IdempotencyScope, in.IdempotencyKey, m.ID, now); err != nil {
				return err
			}
		}
		res = PostResult{Message: m, Created: true}
		p := MessagePayload{Room: roomRef(room), Message: m}
		if p.ThreadRoot, err = replyRoot(tx, m); err != nil {
			return err
		}
		ev := s.newEventJSON(EventMessageSend, in.RoomID, messagePayloadJSON(p, text), agents)
		ev.RelayHops = m.RelayHops
		return emit(ev)
	})
	return res, err
}

// postHint is what posting in reads in its write (see resolveThread).
func postHint(in PostMessage) PostHint {
	h := PostHint{Room: in.RoomID, Message: in.ThreadID}
	if in.Sender.Type == SenderUser {
		h.User = in.Sender.ID
	}
	if in.ReplyOption == ReplyFallbackToNew || in.ReplyOption == ReplyOrFail {
		h.ThreadKey = in.ThreadKey
	}
	if in.IdempotencyKey != "" {
		h.IdemScope, h.IdemKey = in.IdempotencyScope, in.IdempotencyKey
	}
	return h
}

// replyRoot returns the root of m's thread when m is a reply (nil otherwise, or when the
// root was deleted).
func replyRoot(tx Tx, m Message) (*ThreadRoot, error) {
	if m.ThreadID == "" || m.ThreadID == m.ID {
		return nil, nil
	}
	root, err := tx.GetMessage(m.RoomID, m.ThreadID)
	if IsCode(err, CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return threadRoot(root), nil
}

// resolveThread decides the thread of a new message (Google Chat's messageReplyOption rules;
// the REST API's thread_id must name an existing thread).
func (s *Service) resolveThread(tx Tx, in PostMessage, newID string) (string, error) {
	existing := ""
	if in.ThreadID != "" {
		m, err := tx.GetMessage(in.RoomID, in.ThreadID)
		switch {
		case err == nil:
			existing = m.ThreadID
		case !IsCode(err, CodeNotFound):
			return "", err
		}
		if existing == "" && in.ReplyOption == "" {
			return "", Errorf(CodeNotFound, "thread %q not found in room %q", in.ThreadID, in.RoomID)
		}
	}
	if existing == "" && in.ThreadKey != "" && (in.ReplyOption == ReplyFallbackToNew || in.ReplyOption == ReplyOrFail) {
		t, err := tx.ThreadByKey(in.RoomID, in.ThreadKey)
		if err != nil {
			return "", err
		}
		existing = t
	}
	replying := in.ReplyOption == ReplyFallbackToNew || in.ReplyOption == ReplyOrFail || (in.ReplyOption == "" && in.ThreadID != "")
	if replying && existing != "" {
		return existing, nil
	}
	if in.ReplyOption == ReplyOrFail {
		return "", Errorf(CodeNotFound, "thread not found")
	}
	// A new thread, named by the new message; a given key now names it.
	if in.ThreadKey != "" {
		if err := tx.InsertThreadKey(in.RoomID, in.ThreadKey, newID); err != nil {
			return "", err
		}
	}
	return newID, nil
}

// needsMembers reports whether resolving toks takes the room's members: @Present and
// mentions of users do, @All does not.
func needsMembers(toks []MentionToken) bool {
	for _, t := range toks {
		if t.Kind == mentionTypePresent || t.Kind == mentionTypeUser {
			return true
		}
	}
	return false
}

// mentionable reads the room's members with their presence at now, on the read pool before
// the write, when toks needs them and the store's writer pays a round trip for a read
// (read: true; members nil and read false otherwise, and memberUsers reads them in the
// transaction). On PostgreSQL a read in the writer cost each post with a mention a round
// trip under the batch lock, and its whole batch the single round trip it is otherwise
// sent in: posts with @Present ran at half the rate. So a post's mentions there resolve
// against the members and presence read a moment before its commit: a member who joins,
// leaves or changes presence in between counts as before that change, as if the post had
// come a moment earlier. On SQLite the writer's read is the cheaper one (the read pool's
// connections start each read with an empty page cache after every commit), and exact.
func (s *Service) mentionable(ctx context.Context, roomID string, toks []MentionToken, now time.Time) (members []User, read bool, err error) {
	if !needsMembers(toks) || !s.store.WriterRoundTrips() {
		return nil, false, nil
	}
	if members, err = s.store.MemberUsers(ctx, roomID, now); err != nil {
		return nil, false, err
	}
	return members, true, nil
}

// memberUsers returns the members resolving toks takes: none when it takes none, those
// mentionable read (read), or else the room's members read in tx.
func memberUsers(tx Tx, roomID string, toks []MentionToken, pre []User, read bool, now time.Time) ([]User, error) {
	if read || !needsMembers(toks) {
		return pre, nil
	}
	return tx.MemberUsers(roomID, now)
}

// resolveMentions turns mention tokens into mentions of the room's members (as
// memberUsers returns them).
func resolveMentions(room Room, toks []MentionToken, members []User, broadcastLimit int) ([]Mention, error) {
	out := []Mention{}
	if len(toks) == 0 {
		return out, nil
	}
	var all, present bool
	var refs []string
	for _, t := range toks {
		switch t.Kind {
		case mentionTypeAll:
			all = true
		case mentionTypePresent:
			present = true
		case mentionTypeUser:
			refs = append(refs, t.Ref)
		}
	}
	if (all || present) && broadcastLimit > 0 && room.MemberCount > broadcastLimit {
		return nil, Errorf(CodeInvalidArgument, "@All and @Present can't be used in rooms with more than %d members", broadcastLimit)
	}
	if all {
		out = append(out, Mention{Type: mentionTypeAll})
	}
	if present {
		n := 0
		for _, u := range members {
			if u.Present && n < maxResolvedMentionsTo {
				out = append(out, Mention{Type: mentionTypePresent, UserID: u.ID})
				n++
			}
		}
		if n == 0 {
			out = append(out, Mention{Type: mentionTypePresent})
		}
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		for _, u := range members {
			if u.ID == ref || (u.Alias != "" && strings.EqualFold(u.Alias, ref)) || (u.Email != "" && strings.EqualFold(u.Email, ref)) {
				if !seen[u.ID] {
					seen[u.ID] = true
					out = append(out, Mention{Type: mentionTypeUser, UserID: u.ID})
				}
				break
			}
		}
	}
	return out, nil
}

// GetMessage returns one message.
func (s *Service) GetMessage(ctx context.Context, roomID, id string) (Message, error) {
	return s.store.GetMessage(ctx, roomID, id)
}

// ListMessages returns a page of a room's messages, ascending or newest first. With a
// Viewer, the messages of users the viewer blocks are left out.
func (s *Service) ListMessages(ctx context.Context, q MessageQuery) ([]Message, error) {
	if _, err := s.store.GetRoom(ctx, q.RoomID); err != nil {
		return nil, err
	}
	if q.Viewer != "" {
		if _, err := s.store.GetUser(ctx, q.Viewer, s.now()); err != nil {
			return nil, err
		}
	}
	q.Limit = pageLimit(q.Limit)
	return s.store.ListMessages(ctx, q)
}

// editRender is an edit's new text rendered, and encoded as JSON, before the writer, for
// the format the message had then (json.format).
type editRender struct {
	r           Rendered
	json        *encodedText
	members     []User // the room's members, if mentionable read them (membersRead)
	membersRead bool
}

// EditMessage replaces a message's text; emits group_channel:message_update.
func (s *Service) EditMessage(ctx context.Context, roomID, id, newText string) (Message, error) {
	if strings.TrimSpace(newText) == "" {
		return Message{}, Errorf(CodeInvalidArgument, "text is required")
	}
	if !utf8.ValidString(newText) {
		return Message{}, Errorf(CodeInvalidArgument, "text is not valid UTF-8")
	}
	if len(newText) > MaxTextBytes {
		return Message{}, Errorf(CodeInvalidArgument, "text is longer than %d bytes", MaxTextBytes)
	}
	// Rendering is CPU work: do it before entering the writer. A message's format never
	// changes, so the format read here is the one the writer finds; if the read fails, or
	// the writer finds another message under the id, the writer renders.
	var pre *editRender
	if cur, err := s.store.GetMessage(ctx, roomID, id); err == nil {
		r := s.render.Render(cur.Format, newText)
		pre = &editRender{r: r, json: encodeText(Message{Text: newText, Format: cur.Format, HTML: r.HTML})}
		if pre.members, pre.membersRead, err = s.mentionable(ctx, roomID, r.Mentions, s.now()); err != nil {
			pre = nil // the writer renders and reads the members
		}
	}
	var m Message
	err := s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		var err error
		if m, err = tx.GetMessage(roomID, id); err != nil {
			return err
		}
		room, err := tx.GetRoom(roomID)
		if err != nil {
			return err
		}
		var text *encodedText
		var r Rendered
		var members []User
		var membersRead bool
		now := s.now()
		if pre != nil && pre.json.format == m.Format {
			r, text, members, membersRead = pre.r, pre.json, pre.members, pre.membersRead
		} else {
			r = s.render.Render(m.Format, newText)
		}
		if members, err = memberUsers(tx, roomID, r.Mentions, members, membersRead, now); err != nil {
			return err
		}
		m.Text, m.HTML, m.UpdatedAt = newText, r.HTML, &now
		if m.Mentions, err = resolveMentions(room, r.Mentions, members, 0); err != nil {
			return err
		}
		if err := tx.UpdateMessage(m); err != nil {
			return err
		}
		agents, err := tx.RoomAgents(roomID)
		if err != nil {
			return err
		}
		p := MessagePayload{Room: roomRef(room), Message: m}
		if p.ThreadRoot, err = replyRoot(tx, m); err != nil {
			return err
		}
		ev := s.newEventJSON(EventMessageUpdate, roomID, messagePayloadJSON(p, text), agents)
		ev.RelayHops = m.RelayHops
		return emit(ev)
	})
	return m, err
}

// DeleteMessage deletes a message; emits group_channel:message_delete.
func (s *Service) DeleteMessage(ctx context.Context, roomID, id string) error {
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		m, err := tx.GetMessage(roomID, id)
		if err != nil {
			return err
		}
		room, err := tx.GetRoom(roomID)
		if err != nil {
			return err
		}
		if err := tx.DeleteMessage(roomID, id); err != nil {
			return err
		}
		agents, err := tx.RoomAgents(roomID)
		if err != nil {
			return err
		}
		return emit(s.newEvent(EventMessageDelete, roomID, MessageDeletePayload{Room: roomRef(room), MessageID: id, Message: m}, agents))
	})
}

// MarkRead records that a member has read up to a message (the latest when messageID is
// empty); emits group_channel:message_read.
func (s *Service) MarkRead(ctx context.Context, roomID, userID, messageID string) (ReadPayload, error) {
	if userID == "" {
		return ReadPayload{}, Errorf(CodeInvalidArgument, "user_id is required")
	}
	var p ReadPayload
	err := s.write(WithPost(ctx, PostHint{Room: roomID, User: userID, Message: messageID}), func(tx Tx, emit func(*Event) error) error {
		room, agents, err := tx.RoomForPost(roomID)
		if err != nil {
			return err
		}
		u, ok, err := tx.UserInRoom(roomID, userID)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(CodePermissionDenied, "user %q is not a member of room %q", userID, roomID)
		}
		// read is this run's: a rerun of the batch reads the latest message again.
		read := messageID
		if read == "" {
			if read, err = tx.LatestMessageID(roomID); err != nil {
				return err
			}
		} else if _, err := tx.GetMessage(roomID, read); err != nil {
			return err
		}
		now := s.now()
		if err := tx.SetReadState(roomID, userID, read, now); err != nil {
			return err
		}
		p = ReadPayload{Room: roomRef(room), User: userRef(u), MessageID: read, ReadAt: now}
		return emit(s.newEvent(EventMessageRead, roomID, p, agents))
	})
	return p, err
}
