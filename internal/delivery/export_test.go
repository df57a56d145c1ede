package delivery

// SetSendHook makes f run at the start of every send of e (before any is started).
func SetSendHook(e *Engine, f func(deliveryID string)) { e.sendHook = f }

// SetMaxHeld bounds the deliveries e holds per endpoint (call it before any is held).
func SetMaxHeld(e *Engine, n int) { e.locked(func() { e.o.MaxHeld = n }) }

// SetRecordHook makes f run after each batch of outcomes is written and before the lanes
// learn of it (call it before any delivery).
func SetRecordHook(e *Engine, f func(deliveryIDs []string)) { e.recordHook = f }

// Held returns how many deliveries e holds for an endpoint.
func Held(e *Engine, endpointID string) int {
	n := 0
	e.locked(func() {
		if l := e.lanes[endpointID]; l != nil {
			n = len(l.held)
		}
	})
	return n
}

// Stopping reports whether e's Stop has begun.
func Stopping(e *Engine) bool {
	var b bool
	e.locked(func() { b = e.stopping })
	return b
}
