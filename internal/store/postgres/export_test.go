package postgres

import "github.com/chathooks/chathooks/internal/store/sqlstore"

// WrapWriters makes Open wrap each writer connection with wrap.
func WrapWriters(o *Options, wrap func(sqlstore.WriterConn) sqlstore.WriterConn) {
	o.wrapWriter = wrap
}
