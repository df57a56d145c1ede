package storetest

import "sync"

// RerunLog keeps the reasons a store's write batches ran again, for tests that give its Add
// as sqlstore.Options.ObserveRerun.
type RerunLog struct {
	mu      sync.Mutex
	reasons []string
}

// Add logs one reason (called from the store's writer goroutines).
func (r *RerunLog) Add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

// Take returns the reasons logged since the last Take.
func (r *RerunLog) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reasons
	r.reasons = nil
	return out
}
