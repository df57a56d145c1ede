package sqlstore

import (
	"fmt"
)

// mergeKind marks a deferred statement that may be sent together with others of its kind
// as one set-based statement (Dialect.InsertMessages, Dialect.AppendRoomEvents).
type mergeKind uint8

// The merged kinds, in the order a run's statements are sent after merging (mergePending).
const (
	notMerged         mergeKind = iota
	mergeMessage                // InsertMessage's insert
	mergeRoomEvent              // AppendEvent's numbered insert of a room event
	mergeNewThreadKey           // InsertThreadKey's insert of a key taken to be new (newkeys.go)
	mergeThreadKey              // InsertThreadKey's upsert
	mergeKinds                  // how many kinds there are
)

// mergedWhat names a merged statement in errors, by kind.
var mergedWhat = [...]string{mergeMessage: "messages of several requests", mergeRoomEvent: "room events of several requests",
	mergeNewThreadKey: "new thread keys of several requests", mergeThreadKey: "thread keys of several requests"}

// mergePending rewrites the pending statements before they are sent: each run of
// consecutive message inserts, room event appends and thread key upserts becomes the run's
// messages, then its events, then its thread keys, each kind one set-based statement (with
// a column array per argument) when it has more than one row. A batch of posts is then
// four statements, not two a post (three a post with thread keys), and the database
// parses, plans and executes each once (on PostgreSQL that halved its CPU a post in the raw
// rows' benchmark).
//
// Within a run the messages move ahead of the events, and both ahead of the thread keys.
// Nothing in a run reads what another statement of it writes, except a room's events,
// which number after the room's newest: the set-based append numbers a room's rows in
// their order after the room's newest event before the statement, which is what the same
// appends one by one would give. Ids, message sequence numbers and event positions are
// assigned in the run's order. Of several upserts of one room's key the last wins, as one
// by one.
//
// A set-based statement that fails cannot say which request's row failed: the statement is
// labelled as merged, the transaction is marked mergeFailed, and the batch runs again
// without merging (runBatch), which blames the request as before.
func (t *Tx) mergePending() {
	d := t.s.d
	if t.noMerge || d.InsertMessages == "" || d.AppendRoomEvents == "" || len(t.pending) < 3 {
		return
	}
	if !t.worthMerging() {
		return
	}
	stmts := make([]Stmt, 0, len(t.pending))
	labels := make([]stmtLabel, 0, len(t.labels))
	owners := make([]*writeReq, 0, len(t.owners))
	for i := 0; i < len(t.pending); {
		if t.labels[i].kind == notMerged {
			stmts, labels, owners = append(stmts, t.pending[i]), append(labels, t.labels[i]), append(owners, t.owners[i])
			i++
			continue
		}
		j := i
		for j < len(t.pending) && t.labels[j].kind != notMerged {
			j++
		}
		for kind := mergeMessage; kind < mergeKinds; kind++ {
			var idx []int
			for k := i; k < j; k++ {
				if t.labels[k].kind == kind {
					idx = append(idx, k)
				}
			}
			if len(idx) == 0 {
				continue
			}
			if len(idx) > 1 {
				if st, ok := t.merged(kind, idx); ok {
					stmts = append(stmts, st)
					labels = append(labels, stmtLabel{what: mergedWhat[kind], merged: true, assumed: kind == mergeNewThreadKey})
					owners = append(owners, nil)
					continue
				}
			}
			for _, k := range idx {
				stmts, labels, owners = append(stmts, t.pending[k]), append(labels, t.labels[k]), append(owners, t.owners[k])
			}
		}
		i = j
	}
	t.pending, t.labels, t.owners = stmts, labels, owners
}

// worthMerging reports whether a run of pending statements has two of a kind.
func (t *Tx) worthMerging() bool {
	var n [mergeKinds]int // by kind, in the current run
	for _, l := range t.labels {
		if l.kind == notMerged {
			n = [mergeKinds]int{}
			continue
		}
		if n[l.kind]++; n[l.kind] == 2 {
			return true
		}
	}
	return false
}

// merged returns the set-based statement of the pending statements at idx, all of kind
// (ArgColumns makes its arguments). ok is false when an argument is neither a string nor
// an integer (they are then sent one by one).
func (t *Tx) merged(kind mergeKind, idx []int) (Stmt, bool) {
	rows := make([][]any, len(idx))
	for r, k := range idx {
		rows[r] = t.pending[k].Args
	}
	if kind == mergeThreadKey {
		rows = lastOfEachKey(rows)
	}
	cols, ok := ArgColumns(rows)
	if !ok {
		return Stmt{}, false
	}
	switch kind {
	case mergeMessage:
		return Stmt{SQL: t.s.d.InsertMessages, Args: cols}, true
	case mergeThreadKey:
		return Stmt{SQL: t.s.d.UpsertThreadKeys, Args: cols}, true
	case mergeNewThreadKey:
		return Stmt{SQL: t.s.d.InsertThreadKeys, Args: cols}, true
	}
	// The events' numbers come back by id; each event's own scan reads its number.
	ids := cols[1].([]string) // AppendEvent's arguments: room, id, type, time, payload, agents
	scans := make([]func(Row) error, len(idx))
	for r, k := range idx {
		scans[r] = t.pending[k].Scan
	}
	return Stmt{SQL: t.s.d.AppendRoomEvents, Args: cols, Rows: func(rows Rows) error {
		seqs := make(map[string]int64, len(ids))
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				return err
			}
			seqs[id] = seq
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for r, id := range ids {
			seq, ok := seqs[id]
			if !ok {
				return fmt.Errorf("store: event %q was not numbered", id)
			}
			if scans[r] != nil {
				if err := scans[r](seqRow(seq)); err != nil {
					return err
				}
			}
		}
		return nil
	}}, true
}

// lastOfEachKey keeps, of thread key upserts (room, key, thread), the last of each room and
// key: one set-based upsert may not change a row twice.
func lastOfEachKey(rows [][]any) [][]any {
	type key struct{ room, key any }
	last := make(map[key]int, len(rows))
	for r, row := range rows {
		last[key{row[0], row[1]}] = r
	}
	if len(last) == len(rows) {
		return rows
	}
	kept := make([][]any, 0, len(last))
	for r, row := range rows {
		if last[key{row[0], row[1]}] == r {
			kept = append(kept, row)
		}
	}
	return kept
}

// ArgColumns turns the arguments of several runs of one statement (rows, each of the same
// length) into one array a column, the arguments of its set-based form: []string for
// strings, []int64 for integers. ok is false when a column holds anything else, or a mix.
func ArgColumns(rows [][]any) (cols []any, ok bool) {
	cols = make([]any, len(rows[0]))
	for c := range cols {
		switch rows[0][c].(type) {
		case string:
			col := make([]string, len(rows))
			for r := range rows {
				if col[r], ok = rows[r][c].(string); !ok {
					return nil, false
				}
			}
			cols[c] = col
		case int64, int:
			col := make([]int64, len(rows))
			for r := range rows {
				switch v := rows[r][c].(type) {
				case int64:
					col[r] = v
				case int:
					col[r] = int64(v)
				default:
					return nil, false
				}
			}
			cols[c] = col
		default:
			return nil, false
		}
	}
	return cols, true
}

// seqRow is a row of one integer: a room event's number, read from a set-based append.
type seqRow int64

func (r seqRow) Scan(dest ...any) error {
	if len(dest) != 1 {
		return fmt.Errorf("store: event number scanned into %d values", len(dest))
	}
	p, ok := dest[0].(*int64)
	if !ok {
		return fmt.Errorf("store: event number scanned into %T", dest[0])
	}
	*p = int64(r)
	return nil
}
