package sqlstore

// Queued reports how many write requests wait for a writer.
func (s *Store) Queued() int { return len(s.reqs) }
