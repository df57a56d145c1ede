package chat

import (
	"context"
	"encoding/json"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/ids"
)

// CreateUser input.
type CreateUser struct {
	ID, Name, Alias, Email string
	Kind                   UserKind
}

// CreateUser adds a user.
func (s *Service) CreateUser(ctx context.Context, in CreateUser) (User, error) {
	now := s.now()
	if in.ID == "" {
		in.ID = ids.New("usr", now)
	}
	if err := validID("id", in.ID); err != nil {
		return User{}, err
	}
	if err := validName("name", in.Name, true); err != nil {
		return User{}, err
	}
	if in.Alias != "" {
		if err := validID("alias", in.Alias); err != nil {
			return User{}, err
		}
	}
	if in.Email != "" {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
			return User{}, Errorf(CodeInvalidArgument, "email %q is not a valid e-mail address", in.Email)
		}
	}
	switch in.Kind {
	case "":
		in.Kind = KindHuman
	case KindHuman, KindAgent:
	default:
		return User{}, Errorf(CodeInvalidArgument, "kind must be \"human\" or \"agent\", not %q", in.Kind)
	}
	u := User{ID: in.ID, Name: strings.TrimSpace(in.Name), Alias: in.Alias, Email: in.Email, Kind: in.Kind, CreatedAt: now}
	err := s.store.Write(ctx, func(tx Tx) error { return tx.InsertUser(u) })
	return u, err
}

// GetUser returns a user with presence.
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	return s.store.GetUser(ctx, id, s.now())
}

// ListUsers pages through users ordered by id.
func (s *Service) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	return s.store.ListUsers(ctx, after, pageLimit(limit), s.now())
}

// DeleteUser removes a user; they leave every room they were in (one leave event each).
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		u, err := tx.GetUser(id)
		if err != nil {
			return err
		}
		rooms, err := tx.UserRoomIDs(id)
		if err != nil {
			return err
		}
		for _, roomID := range rooms {
			if err := s.leave(tx, emit, roomID, u); err != nil {
				return err
			}
		}
		return tx.DeleteUser(id)
	})
}

// SetPresence sets a user's explicit presence; ttl > 0 makes it expire.
func (s *Service) SetPresence(ctx context.Context, userID string, present bool, ttl time.Duration) (User, error) {
	if ttl < 0 {
		return User{}, Errorf(CodeInvalidArgument, "ttl_seconds must not be negative")
	}
	now := s.now()
	var exp time.Time
	if present && ttl > 0 {
		exp = now.Add(ttl)
	}
	err := s.store.Write(ctx, func(tx Tx) error {
		if _, err := tx.GetUser(userID); err != nil {
			return err
		}
		return tx.SetPresence(userID, present, exp)
	})
	if err != nil {
		return User{}, err
	}
	return s.store.GetUser(ctx, userID, now)
}

// OpenStream marks userID present while the returned release function has not been called.
// The lease is refreshed by the caller calling RefreshStream periodically.
func (s *Service) OpenStream(ctx context.Context, userID string) (release func(), err error) {
	if _, err := s.store.GetUser(ctx, userID, s.now()); err != nil {
		return nil, err
	}
	if err := s.presence.acquire(ctx, userID); err != nil {
		return nil, err
	}
	var once bool
	return func() {
		if !once {
			once = true
			s.presence.release(userID)
		}
	}, nil
}

// RefreshStream extends the presence lease of a user with an open stream.
func (s *Service) RefreshStream(ctx context.Context, userID string) error {
	return s.presence.refresh(ctx, userID)
}

// Block records that userID blocks targetID.
func (s *Service) Block(ctx context.Context, userID, targetID string) error {
	if targetID == "" {
		return Errorf(CodeInvalidArgument, "target_id is required")
	}
	if userID == targetID {
		return Errorf(CodeInvalidArgument, "a user cannot block themselves")
	}
	return s.blockChange(ctx, userID, targetID, true)
}

// ListBlocks returns the users userID blocks, by target id.
func (s *Service) ListBlocks(ctx context.Context, userID, after string, limit int) ([]Block, error) {
	if _, err := s.store.GetUser(ctx, userID, s.now()); err != nil {
		return nil, err
	}
	return s.store.ListBlocks(ctx, userID, after, pageLimit(limit))
}

// HiddenFrom returns, of events, those a viewer does not see: messages (sent or edited) of
// users the viewer blocks. A block hides the blocked user's messages from the blocker's
// reads and live stream; it changes nothing for anyone else.
func (s *Service) HiddenFrom(ctx context.Context, viewer string, events []Event) (map[string]bool, error) {
	if viewer == "" {
		return nil, nil
	}
	var senders []string
	for _, e := range events {
		if snd, ok := MessageSender(e); ok && snd.Type == SenderUser && !slices.Contains(senders, snd.ID) {
			senders = append(senders, snd.ID)
		}
	}
	if len(senders) == 0 {
		return nil, nil
	}
	blocked, err := s.store.BlockedAmong(ctx, viewer, senders)
	if err != nil || len(blocked) == 0 {
		return nil, err
	}
	hidden := map[string]bool{}
	for _, e := range events {
		if snd, ok := MessageSender(e); ok && snd.Type == SenderUser && slices.Contains(blocked, snd.ID) {
			hidden[e.ID] = true
		}
	}
	return hidden, nil
}

// MessageSender returns the sender of a message event (sent or edited).
func MessageSender(e Event) (Sender, bool) {
	if e.Type != EventMessageSend && e.Type != EventMessageUpdate {
		return Sender{}, false
	}
	var p struct {
		Message struct {
			Sender Sender `json:"sender"`
		} `json:"message"`
	}
	if json.Unmarshal(e.Payload, &p) != nil {
		return Sender{}, false
	}
	return p.Message.Sender, true
}

// Unblock removes a block.
func (s *Service) Unblock(ctx context.Context, userID, targetID string) error {
	return s.blockChange(ctx, userID, targetID, false)
}

func (s *Service) blockChange(ctx context.Context, userID, targetID string, block bool) error {
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		u, err := tx.GetUser(userID)
		if err != nil {
			return err
		}
		t, err := tx.GetUser(targetID)
		if err != nil {
			return err
		}
		typ := EventUserUnblock
		if block {
			typ = EventUserBlock
			err = tx.InsertBlock(userID, targetID, s.now())
		} else {
			err = tx.DeleteBlock(userID, targetID)
		}
		if err != nil {
			return err
		}
		var agents []string
		for _, x := range []User{u, t} {
			if x.Kind == KindAgent {
				agents = append(agents, x.ID)
			}
		}
		return emit(s.newEvent(typ, "", BlockPayload{Blocker: userRef(u), Blocked: userRef(t)}, agents))
	})
}
