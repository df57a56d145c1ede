package chat

import (
	"context"
	"strings"

	"github.com/chathooks/chathooks/internal/ids"
)

// CreateRoom input. Members (and the creator) join directly.
type CreateRoom struct {
	ID, Name, CreatorID string
	MemberIDs           []string
}

// CreateRoom creates a room; emits group_channel:create and, for its initial members,
// group_channel:join.
func (s *Service) CreateRoom(ctx context.Context, in CreateRoom) (Room, error) {
	now := s.now()
	if in.ID == "" {
		in.ID = ids.New("room", now)
	}
	if err := validID("id", in.ID); err != nil {
		return Room{}, err
	}
	if err := validName("name", in.Name, true); err != nil {
		return Room{}, err
	}
	members := dedupe(append([]string{in.CreatorID}, in.MemberIDs...))
	if len(members) > MaxInviteBatch {
		return Room{}, Errorf(CodeInvalidArgument, "at most %d members can be given at creation", MaxInviteBatch)
	}
	room := Room{ID: in.ID, Name: strings.TrimSpace(in.Name), CreatorID: in.CreatorID, CreatedAt: now, UpdatedAt: now}
	var last *Event // the room's latest event: its RoomSeq is known once the write returns
	err := s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		users := make([]User, 0, len(members))
		for _, id := range members {
			u, err := tx.GetUser(id)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		if err := tx.InsertRoom(room); err != nil {
			return err
		}
		for _, u := range users {
			if err := tx.InsertMember(room.ID, u.ID, now); err != nil {
				return err
			}
		}
		room.MemberCount = len(users)
		refs := userRefs(users)
		agents := agentIDs(users)
		e := s.newEvent(EventRoomCreate, room.ID, RoomPayload{Room: roomRef(room), Members: refs}, agents)
		if err := emit(e); err != nil {
			return err
		}
		if len(users) > 0 {
			e = s.newEvent(EventRoomJoin, room.ID, MembershipPayload{Room: roomRef(room), Users: refs}, agents)
			if err := emit(e); err != nil {
				return err
			}
		}
		last = e
		return nil
	})
	if err == nil {
		room.LastEventID = last.RoomSeq
	}
	return room, err
}

// GetRoom returns a room.
func (s *Service) GetRoom(ctx context.Context, id string) (Room, error) {
	return s.store.GetRoom(ctx, id)
}

// ListRooms pages through rooms ordered by id.
func (s *Service) ListRooms(ctx context.Context, after string, limit int) ([]Room, error) {
	return s.store.ListRooms(ctx, after, pageLimit(limit))
}

// RenameRoom changes a room's name; emits group_channel:changed.
func (s *Service) RenameRoom(ctx context.Context, id, name string) (Room, error) {
	if err := validName("name", name, true); err != nil {
		return Room{}, err
	}
	var room Room
	var last *Event // the event: its RoomSeq is known once the write returns
	err := s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		var err error
		if room, err = tx.GetRoom(id); err != nil {
			return err
		}
		room.Name = strings.TrimSpace(name)
		room.UpdatedAt = s.now()
		if err := tx.UpdateRoom(room); err != nil {
			return err
		}
		agents, err := tx.RoomAgents(id)
		if err != nil {
			return err
		}
		e := s.newEvent(EventRoomChanged, id, RoomPayload{Room: roomRef(room)}, agents)
		if err := emit(e); err != nil {
			return err
		}
		last = e
		return nil
	})
	if err == nil {
		room.LastEventID = last.RoomSeq
	}
	return room, err
}

// DeleteRoom deletes a room with its members, messages and incoming webhooks; emits
// group_channel:remove.
func (s *Service) DeleteRoom(ctx context.Context, id string) error {
	defer s.forgetWebhooks(func(w Webhook) bool { return w.RoomID == id })
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		room, err := tx.GetRoom(id)
		if err != nil {
			return err
		}
		agents, err := tx.RoomAgents(id)
		if err != nil {
			return err
		}
		if err := emit(s.newEvent(EventRoomRemove, id, RoomPayload{Room: roomRef(room)}, agents)); err != nil {
			return err
		}
		if err := tx.RevokeRoomWebhooks(id, s.now()); err != nil {
			return err
		}
		return tx.DeleteRoom(id)
	})
}

// ListMembers pages through a room's members ordered by user id.
func (s *Service) ListMembers(ctx context.Context, roomID, after string, limit int) ([]Member, error) {
	if _, err := s.store.GetRoom(ctx, roomID); err != nil {
		return nil, err
	}
	return s.store.ListMembers(ctx, roomID, after, pageLimit(limit), s.now())
}

// Join adds a user to a room; emits group_channel:join.
func (s *Service) Join(ctx context.Context, roomID, userID string) error {
	if userID == "" {
		return Errorf(CodeInvalidArgument, "user_id is required")
	}
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		room, err := tx.GetRoom(roomID)
		if err != nil {
			return err
		}
		u, err := tx.GetUser(userID)
		if err != nil {
			return err
		}
		if err := tx.InsertMember(roomID, userID, s.now()); err != nil {
			return err
		}
		room.MemberCount++
		agents, err := tx.RoomAgents(roomID)
		if err != nil {
			return err
		}
		return emit(s.newEvent(EventRoomJoin, roomID, MembershipPayload{Room: roomRef(room), Users: []UserRef{userRef(u)}}, agents))
	})
}

// Leave removes a user from a room; emits group_channel:leave.
func (s *Service) Leave(ctx context.Context, roomID, userID string) error {
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		if _, err := tx.GetRoom(roomID); err != nil {
			return err
		}
		u, err := tx.GetUser(userID)
		if err != nil {
			return err
		}
		return s.leave(tx, emit, roomID, u)
	})
}

func (s *Service) leave(tx Tx, emit func(*Event) error, roomID string, u User) error {
	// Agents are computed before the user leaves: a leaving agent is concerned by its leave.
	agents, err := tx.RoomAgents(roomID)
	if err != nil {
		return err
	}
	if err := tx.DeleteMember(roomID, u.ID); err != nil {
		return err
	}
	room, err := tx.GetRoom(roomID)
	if err != nil {
		return err
	}
	return emit(s.newEvent(EventRoomLeave, roomID, MembershipPayload{Room: roomRef(room), Users: []UserRef{userRef(u)}}, agents))
}

// Invite adds users to a room on an inviter's behalf (auto-accepted, as Sendbird does by
// default); emits group_channel:invite. Users already members are skipped.
func (s *Service) Invite(ctx context.Context, roomID, inviterID string, userIDs []string) error {
	if inviterID == "" {
		return Errorf(CodeInvalidArgument, "inviter_id is required")
	}
	userIDs = dedupe(userIDs)
	if len(userIDs) == 0 {
		return Errorf(CodeInvalidArgument, "user_ids must name at least one user")
	}
	if len(userIDs) > MaxInviteBatch {
		return Errorf(CodeInvalidArgument, "at most %d users can be invited at once", MaxInviteBatch)
	}
	return s.write(ctx, func(tx Tx, emit func(*Event) error) error {
		room, err := tx.GetRoom(roomID)
		if err != nil {
			return err
		}
		inviter, err := tx.GetUser(inviterID)
		if err != nil {
			return err
		}
		if ok, err := tx.IsMember(roomID, inviterID); err != nil {
			return err
		} else if !ok {
			return Errorf(CodePermissionDenied, "inviter %q is not a member of room %q", inviterID, roomID)
		}
		var invited []User
		now := s.now()
		for _, id := range userIDs {
			u, err := tx.GetUser(id)
			if err != nil {
				return err
			}
			if ok, err := tx.IsMember(roomID, id); err != nil {
				return err
			} else if ok {
				continue
			}
			if err := tx.InsertMember(roomID, id, now); err != nil {
				return err
			}
			invited = append(invited, u)
		}
		if len(invited) == 0 {
			return nil
		}
		room.MemberCount += len(invited)
		agents, err := tx.RoomAgents(roomID)
		if err != nil {
			return err
		}
		inv := userRef(inviter)
		return emit(s.newEvent(EventRoomInvite, roomID, MembershipPayload{Room: roomRef(room), Users: userRefs(invited), Inviter: &inv}, agents))
	})
}

func dedupe(in []string) []string {
	out := in[:0:0]
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

func userRefs(us []User) []UserRef {
	out := make([]UserRef, len(us))
	for i, u := range us {
		out[i] = userRef(u)
	}
	return out
}

func agentIDs(us []User) []string {
	var out []string
	for _, u := range us {
		if u.Kind == KindAgent {
			out = append(out, u.ID)
		}
	}
	return out
}
