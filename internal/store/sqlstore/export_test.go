package sqlstore

import (
	"strings"
	"time"
)

// WithFixedCommitWindow returns o with a commit window that stays open at w whatever the
// writer measures, so that a test sees the writer gather.
func WithFixedCommitWindow(o Options, w time.Duration) Options {
	o.CommitWindow, o.windowFixed = w, true
	return o
}

// OnGathering sets a hook told, on the writer goroutine, when the writer starts waiting out
// a commit window with the batch's first n requests.
func (s *Store) OnGathering(f func(n int)) { s.gathering.Store(&f) }

// UnfinishedStatements are the statements that look for leased or claimable rows.
var UnfinishedStatements = append(append(qReleaseOwner[:], qReleaseAll[:]...), qClaimOrdered,
	strings.Replace(qClaimFirst, "{lock}", "", 1), strings.Replace(qClaimRetry, "{lock}", "", 1))

// RoomSeqStatements are the statements that read a room's last event number.
var RoomSeqStatements = []string{qAppendRoomEvent, qRoomLastSeq, qGetRoom, qPruneEvents}

// QRoomEventsAfter reads a room's events after a number.
const QRoomEventsAfter = qRoomEventsAfter

// Numbered rewrites q's placeholders as PostgreSQL's are written.
func Numbered(q string) string { return (&Dialect{DollarPlaceholders: true}).rebind(q) }

// AgentStatements read a room's agent members (RoomAgents, and with the room on
// PostgreSQL).
var AgentStatements = []string{qRoomAgents, qGetRoomAgents, qRoomsAgents}

// CachedRoomSeq is the number of the room's newest event as the writers' cache holds it.
func (s *Store) CachedRoomSeq(room string) (int64, bool) { return s.seqs.get(room) }
