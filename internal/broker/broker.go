// Package broker fans committed room events out to live subscribers (SSE streams) in
// process. A subscriber that falls behind is told it lagged and re-reads from the store,
// so a slow client never blocks publishers and never misses an event.
package broker

import (
	"sync"

	"github.com/chathooks/chathooks/internal/chat"
)

// maxBuffered is how many events a subscriber may hold before it is marked lagged.
const maxBuffered = 1024

// Broker is an in-process pub/sub of room events. The zero value is not usable; use New.
type Broker struct {
	mu   sync.RWMutex
	subs map[string]map[*Sub]struct{}
	// done is closed once by Close: every subscription, current or later, is over.
	done      chan struct{}
	closeOnce sync.Once
}

// New returns an empty broker.
func New() *Broker { return &Broker{subs: map[string]map[*Sub]struct{}{}, done: make(chan struct{})} }

// Close ends every subscription (at shutdown): Done of each, and of any made later, is
// closed, so live streams end and their clients reconnect elsewhere with Last-Event-ID.
func (b *Broker) Close() { b.closeOnce.Do(func() { close(b.done) }) }

// Sub is one subscription to a room.
type Sub struct {
	b      *Broker
	room   string
	wake   chan struct{}
	mu     sync.Mutex
	buf    []chat.Event
	lagged bool
}

// Subscribe starts receiving the room's events published from now on.
func (b *Broker) Subscribe(room string) *Sub {
	s := &Sub{b: b, room: room, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	m := b.subs[room]
	if m == nil {
		m = map[*Sub]struct{}{}
		b.subs[room] = m
	}
	m[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close ends the subscription; safe to call more than once.
func (s *Sub) Close() {
	s.b.mu.Lock()
	if m := s.b.subs[s.room]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.b.subs, s.room)
		}
	}
	s.b.mu.Unlock()
}

// Done is closed when the broker is closed: the subscriber should stop.
func (s *Sub) Done() <-chan struct{} { return s.b.done }

// Wake is signalled when events are waiting.
func (s *Sub) Wake() <-chan struct{} { return s.wake }

// Take returns the waiting events, or lagged = true if some were dropped (the caller must
// re-read from the store).
func (s *Sub) Take() (events []chat.Event, lagged bool) {
	s.mu.Lock()
	events, lagged = s.buf, s.lagged
	s.buf, s.lagged = nil, false
	s.mu.Unlock()
	return events, lagged
}

// Publish implements chat.Publisher.
func (b *Broker) Publish(events []chat.Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range events {
		if e.RoomID == "" {
			continue
		}
		for s := range b.subs[e.RoomID] {
			s.mu.Lock()
			if len(s.buf) >= maxBuffered {
				s.buf, s.lagged = nil, true
			} else if !s.lagged {
				s.buf = append(s.buf, e)
			}
			s.mu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Poke tells the room's subscribers that events they have not been given exist (written by
// another node): each catches up from the store.
func (b *Broker) Poke(room string) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs[room] {
		s.mu.Lock()
		s.buf, s.lagged = nil, true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// PokeAll makes every subscriber catch up from the store (after a lost notification link).
func (b *Broker) PokeAll() {
	b.mu.RLock()
	rooms := make([]string, 0, len(b.subs))
	for r := range b.subs {
		rooms = append(rooms, r)
	}
	b.mu.RUnlock()
	for _, r := range rooms {
		b.Poke(r)
	}
}
