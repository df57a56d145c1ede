package sqlstore

// Rebound returns q as the store sends it to its database.
func (s *Store) Rebound(q string) string { return s.sql(q) }

// QClaimable is the read whose plan is checked.
const QClaimable = qClaimable
