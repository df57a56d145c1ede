package app

import (
	"sync/atomic"

	"github.com/chathooks/chathooks/internal/broker"
)

// DefaultMaxStreams is the default bound on concurrent live streams per process.
const DefaultMaxStreams = 5000

// streamGate is the broker as the stream handler sees it, with a bound on how many streams
// are open at once (api.StreamGate). open counts the reserved places; it never exceeds max
// for longer than one failed reservation's Add/Add pair.
type streamGate struct {
	*broker.Broker
	max  int64
	open atomic.Int64
}

func newStreamGate(b *broker.Broker, max int) *streamGate {
	if max <= 0 {
		max = DefaultMaxStreams
	}
	return &streamGate{Broker: b, max: int64(max)}
}

// OpenStream implements api.StreamGate.
func (g *streamGate) OpenStream() (func(), bool) {
	if g.open.Add(1) > g.max {
		g.open.Add(-1)
		return nil, false
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			g.open.Add(-1)
		}
	}, true
}
