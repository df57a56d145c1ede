package delivery

// SetSendHook makes f run at the start of every send of e (before any is started).
func SetSendHook(e *Engine, f func(deliveryID string)) { e.sendHook = f }
