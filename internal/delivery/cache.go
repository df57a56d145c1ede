package delivery

import (
	"sync"

	"github.com/chathooks/chathooks/internal/chat"
)

// eventCache keeps recently published events so the engine rarely reads them back from the
// store; it holds at most n, forgetting the oldest.
type eventCache struct {
	mu   sync.Mutex
	m    map[string]*chat.Event
	ring []string
	next int
}

func newEventCache(n int) *eventCache {
	return &eventCache{m: make(map[string]*chat.Event, n), ring: make([]string, n)}
}

func (c *eventCache) add(evs []chat.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range evs {
		ev := evs[i]
		if old := c.ring[c.next]; old != "" {
			delete(c.m, old)
		}
		c.ring[c.next] = ev.ID
		c.m[ev.ID] = &ev
		c.next = (c.next + 1) % len(c.ring)
	}
}

func (c *eventCache) get(id string) (*chat.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.m[id]
	return ev, ok
}
