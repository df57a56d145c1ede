package chat

import (
	"math/rand/v2"
	"sync"
	"time"
)

// webhookAuthCacheMax bounds the cache; past it an arbitrary entry makes room.
const webhookAuthCacheMax = 1 << 16

// webhookAuthCache remembers which webhook a token hash opens, so that a post skips the
// database read of authentication. Only successful lookups are kept.
//
// Invariants: an entry maps the SHA-256 of a token to the webhook whose current token it
// was when read. Every token change and deletion made through the Service removes the
// webhook's entries after its commit (regenerate, delete, room delete) and bumps gen; a
// lookup that read the database before such a bump never stores its result (put checks
// the gen it saw before reading), so a result read before a commit cannot outlive the
// commit's invalidation. That makes the cache exact when this process is the only writer
// (SQLite). With ttl > 0 (PostgreSQL: other nodes change webhooks without telling this
// one) an entry also expires at most ttl after it was read, which bounds how long another
// node's regenerate or delete takes to reach this node; each entry at a random time
// between ttl/2 and ttl, so entries read together (all of a busy node's webhooks, in its
// first second) do not expire together and send every post of the next second to the
// database at once.
type webhookAuthCache struct {
	ttl time.Duration // 0: entries do not expire

	mu  sync.Mutex // guards gen and m
	gen uint64
	m   map[[32]byte]cachedWebhook
}

type cachedWebhook struct {
	w     Webhook
	until time.Time // with a ttl: when it stops being trusted
}

func newWebhookAuthCache(ttl time.Duration) *webhookAuthCache {
	return &webhookAuthCache{ttl: ttl, m: map[[32]byte]cachedWebhook{}}
}

// get returns the webhook the token hash opened, if cached and fresh at now.
func (c *webhookAuthCache) get(sum [32]byte, now time.Time) (Webhook, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sum]
	if !ok {
		return Webhook{}, false
	}
	if c.ttl > 0 && !now.Before(e.until) {
		delete(c.m, sum)
		return Webhook{}, false
	}
	return e.w, true
}

// generation is read before a database lookup whose result may be put.
func (c *webhookAuthCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores a lookup made after generation returned gen, unless something was
// invalidated since.
func (c *webhookAuthCache) put(sum [32]byte, w Webhook, gen uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= webhookAuthCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	e := cachedWebhook{w: w}
	if c.ttl > 0 {
		e.until = at.Add(c.ttl - rand.N(c.ttl/2+1))
	}
	c.m[sum] = e
}

// invalidate removes every entry whose webhook matches and bumps gen.
func (c *webhookAuthCache) invalidate(match func(Webhook) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if match(e.w) {
			delete(c.m, k)
		}
	}
}
