package sqlstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/chathooks/chathooks/internal/chat"
)

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements (a writer connection, or the read pool).
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, q string, args ...any) Row
	Query(ctx context.Context, q string, args ...any) (Rows, error)
}

// WriterConn is a connection owned by one writer goroutine.
type WriterConn interface {
	Querier
	Close() error
}

// Stmt is a statement text with its arguments.
type Stmt struct {
	SQL  string
	Args []any
	// Scan, if set, reads the one row the statement returns.
	Scan func(Row) error
	// Rows, if set, reads the rows the statement returns (a set-based statement's).
	Rows func(Rows) error
	// Neither may fail on its own where the database ran the statement: a COMMIT sent
	// after it in the same pipeline would still commit. A statement that finds nothing
	// to act on must fail in the database (see qAppendRoomEvent).
}

// Pipeliner is a WriterConn that sends several statements in one round trip.
type Pipeliner interface {
	// Pipeline runs stmts in order, sent together. A statement with a Scan returns a row
	// that its Scan reads; one with Rows, rows that its Rows reads. With scan, the last
	// statement is a query whose row scan reads instead; a last statement with neither is
	// executed and n is its rows affected. When a statement fails (the rest does not run),
	// failed is its index.
	Pipeline(ctx context.Context, stmts []Stmt, scan func(Row) error) (n int64, failed int, err error)
}

// BeginReader is a WriterConn that runs a transaction's opening text (BEGIN, the batch
// lock, then a SELECT of one row of integers) in one round trip and returns that row: on
// PostgreSQL the room cache generation and the endpoint version are read with the lock
// instead of in round trips of their own.
type BeginReader interface {
	BeginRead(ctx context.Context, text string) ([]int64, error)
}

// Dialect holds what differs between database engines.
type Dialect struct {
	Name string
	// Begin starts a writer transaction ("BEGIN IMMEDIATE" on SQLite).
	Begin string
	// BatchLock, if set, runs right after Begin. On PostgreSQL it takes a transaction-scoped
	// advisory lock so that write batches of every writer on every node commit one at a
	// time: row locks (a room's event sequence) are then never contended, so they cannot
	// deadlock, and a room's events commit in sequence order cluster-wide. Each batch is
	// still one group commit of many requests.
	BatchLock string
	// BatchGuard, if set, is a statement run right after BatchLock that fails the
	// transaction unless the room cache generation and the endpoint version are its first
	// two arguments (and, with ThreadVersion, the thread cache's version its third, unless
	// NULL): with it, a batch prepared with the values the last one left is sent whole,
	// BEGIN to COMMIT, in one round trip (whole.go).
	BatchGuard string
	// ThreadVersion, if set, reads the version of the thread data writers cache (one row,
	// one integer), and ThreadVersionEnd reads it with 1 if the transaction running it made
	// the last bump (0 if not): with both, writers cache thread keys and the messages
	// that start their threads (threadcache.go), and BatchGuard takes the cache's version
	// as a third argument (NULL when the batch relies on no cached entry).
	ThreadVersion, ThreadVersionEnd string
	// Numbered placeholders: false keeps "?" and "?N" (SQLite); true rewrites them to "$N".
	DollarPlaceholders bool
	// Classify maps a driver error to a domain code: CodeAlreadyExists for unique
	// violations, CodeNotFound for foreign-key violations, CodeInvalidArgument for values
	// the database refuses to hold (PostgreSQL's text cannot contain NUL), "" otherwise.
	Classify func(err error) chat.Code
	// NoRows reports whether err is the driver's "no rows in result set".
	NoRows func(err error) bool
	// SkipLocked is appended to the row selection of delivery claims (" FOR UPDATE SKIP
	// LOCKED" on PostgreSQL, so nodes claiming at once never wait on each other; empty on
	// SQLite, whose single writer claims alone).
	SkipLocked string
	// NextLeaseEnd, if set, replaces the query NextClaimable asks for the earliest end of a
	// lease of an active endpoint's unfinished delivery (one row, one column, NULL if none).
	NextLeaseEnd string
	// NotifyChannel, if set, is the PostgreSQL channel on which every commit announces the
	// rooms that got events (payload: node id, then one room id per line).
	NotifyChannel string
	// SingleNode: one process owns the database (SQLite).
	SingleNode bool
	// Retryable reports errors after which the whole batch should be retried (deadlock,
	// serialization failure).
	Retryable func(err error) bool
	// InsertMessages and AppendRoomEvents, if both set, are the set-based forms of a
	// message's insert and of a room event's numbered append: the same arguments, each an
	// array of the single statement's values in order (strings, or 64-bit integers), and
	// the events' form returns each event's id and number. Consecutive such statements of
	// a pipeline are then sent as one of each (merge.go).
	InsertMessages, AppendRoomEvents string
	// UpsertThreadKeys, if set, is InsertThreadKey's statement in set-based form (one array
	// a column: room, key, thread), for rows with no two of the same room and key.
	UpsertThreadKeys string
	// InsertThreadKeys, if set, inserts thread keys (the same arrays as UpsertThreadKeys),
	// failing if any exists: the set-based form of the insert of keys a whole batch took
	// to be new (newkeys.go).
	InsertThreadKeys string
	// RoundTrips: every statement costs a network round trip, and a statement text without
	// arguments may hold several statements (PostgreSQL's simple protocol). The writer then
	// sends Begin with BatchLock, and the commit notification with COMMIT, as one text
	// each, and appends a room event with one statement (a data-modifying WITH).
	RoundTrips bool
}

// rebind turns "?" / "?N" placeholders into "$N" when the dialect wants it.
func (d *Dialect) rebind(q string) string {
	if !d.DollarPlaceholders || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' { // copy string literals verbatim
			j := strings.IndexByte(q[i+1:], '\'')
			if j < 0 {
				b.WriteString(q[i:])
				break
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
			continue
		}
		if c != '?' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		b.WriteByte('$')
		if j > i+1 {
			b.WriteString(q[i+1 : j])
		} else {
			n++
			b.WriteString(strconv.Itoa(n))
		}
		i = j - 1
	}
	return b.String()
}
