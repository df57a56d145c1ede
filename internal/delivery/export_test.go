package delivery

// SetSendHook makes f run at the start of every send of e (before any is started).
func SetSendHook(e *Engine, f func(deliveryID string)) { e.sendHook = f }

// SetMaxHeld bounds the deliveries e holds per endpoint (call it before any is held).
func SetMaxHeld(e *Engine, n int) { e.locked(func() { e.o.MaxHeld = n }) }

// SetRecordHook makes f run after each batch of outcomes is written and before the lanes
// learn of it (call it before any delivery).
func SetRecordHook(e *Engine, f func(deliveryIDs []string)) { e.recordHook = f }
