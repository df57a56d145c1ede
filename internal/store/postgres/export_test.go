package postgres

import "github.com/chathooks/chathooks/internal/store/sqlstore"

// WrapWriters makes Open wrap each writer connection with wrap.
func WrapWriters(o *Options, wrap func(sqlstore.WriterConn) sqlstore.WriterConn) {
	o.wrapWriter = wrap
}

// Queued is how many checks wait for the limiter's next statement.
func (l *RoomLimiter) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// QTakeTokens is the limiter's statement.
const QTakeTokens = qTakeTokens
