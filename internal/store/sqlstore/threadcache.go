package sqlstore

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/chathooks/chathooks/internal/chat"
)

// threadCache remembers, across batches, which thread a thread key names and the messages
// that start those threads, so that a batch of replies by key needs no round trip to read
// them (dialects with Dialect.ThreadVersion). It is exact for one version of the
// database's thread data (thread_cache_version, bumped once by every transaction that
// changes thread keys or edits or deletes messages, whoever writes): a batch that uses an
// entry has the batch guard check that version under the batch lock before any of its
// statements run, and a stale cache fails the batch, which runs again reading everything.
//
// Entries come from what batches read ahead (read after the version, under the lock, so
// never older than it) and from a batch's own changes, applied after its commit only when
// the version it read at its end shows exactly its own bump since the cache's version.
// Only positive facts are kept: a key found, a message found. mu guards every field; a
// store's writers share the cache.
type threadCache struct {
	mu      sync.Mutex
	valid   bool  // the entries are exact for version
	version int64 // thread_cache_version.n the entries hold for
	// Each entry is two strings (cacheKey, and the thread or the encoded message), so that
	// a large cache adds few objects for the garbage collector to mark: a message kept as a
	// chat.Message is more than a dozen.
	keys  map[string]string // cacheKey(room, key): the thread
	msgs  map[string]string // cacheKey(room, id): the message, encodeMessage
	bytes int               // the encoded messages' size, bounded by threadCacheBytes
}

// Bounds on the cache: past either, entries are dropped at random to make room.
const (
	threadCacheKeys  = 1 << 17
	threadCacheBytes = 32 << 20
)

// snapshot returns the version the cache is exact for, if it is.
func (c *threadCache) snapshot() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version, c.valid
}

// hits fills a with the entries of version v the cache holds for the keys and messages
// asked for (and the first messages of the keys' threads), and returns those it lacks;
// used reports whether any entry was taken. Nothing is taken from a cache not exact for v.
func (c *threadCache) hits(v int64, a *readAhead, keys []memberKey, msgs []memberKey) (missKeys, missMsgs []memberKey, used bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.version != v {
		return keys, msgs, false
	}
	for _, k := range keys {
		th, ok := c.keys[cacheKey(k)]
		if !ok {
			missKeys = append(missKeys, k)
			continue
		}
		a.keys[k], used = th, true
		// The thread's first message, which a reply's event names.
		root := memberKey{k.room, th}
		if e, ok := c.msgs[cacheKey(root)]; ok {
			a.msgs[root] = decodeMessage(e)
		} else if !slices.Contains(msgs, root) {
			msgs = append(msgs, root)
		}
	}
	for _, k := range msgs {
		if e, ok := c.msgs[cacheKey(k)]; ok {
			a.msgs[k], used = decodeMessage(e), true
			continue
		}
		missMsgs = append(missMsgs, k)
	}
	return missKeys, missMsgs, used
}

// learn records what a batch read ahead at version v (read under the batch lock after the
// version, so it is no older): a cache exact for another version is dropped first.
func (c *threadCache) learn(v int64, keys map[memberKey]string, msgs map[memberKey]chat.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.version != v {
		c.resetLocked(v)
	}
	for k, th := range keys {
		if th != "" {
			c.putKeyLocked(k, th)
		}
	}
	for k, m := range msgs {
		c.putMsgLocked(k, m)
	}
}

// threadChanges are a transaction's own changes to what the cache holds, in order.
type threadChanges struct {
	base    int64 // the cache version the transaction started from (baseOK: known)
	baseOK  bool
	keys    []threadKeyChange
	started map[memberKey]chat.Message // messages that start a thread a key of this transaction names
	changed []memberKey                // messages edited or deleted
	room    bool                       // a room was deleted
	lost    bool                       // some were rolled back (to a savepoint): the cache is dropped at the commit
}

type threadKeyChange struct {
	k      memberKey
	thread string
}

func (t *threadChanges) any() bool {
	return len(t.keys) > 0 || len(t.changed) > 0 || t.room || t.lost
}

// keySet records a thread key set to thread.
func (t *threadChanges) keySet(k memberKey, thread string) {
	t.keys = append(t.keys, threadKeyChange{k, thread})
}

// inserted records a message inserted: kept if it starts a thread a key set in this
// transaction names.
func (t *threadChanges) inserted(m chat.Message) {
	if m.ThreadID != m.ID {
		return
	}
	for _, kc := range t.keys {
		if kc.k.room == m.RoomID && kc.thread == m.ID {
			if t.started == nil {
				t.started = map[memberKey]chat.Message{}
			}
			t.started[memberKey{m.RoomID, m.ID}] = storedMessage(m)
			return
		}
	}
}

// messageChanged records a message edited or deleted.
func (t *threadChanges) messageChanged(room, id string) {
	k := memberKey{room, id}
	delete(t.started, k)
	t.changed = append(t.changed, k)
}

// commit applies a committed transaction's changes. end is the version read at the end of
// the transaction and bumped whether the last bump was its own. If the cache still holds
// base and end is base plus its own bump (nobody else's came between), the changes apply
// to it. Otherwise, if the last bump was its own, the cache starts again at end with the
// transaction's own changes alone: from its bump to its commit the transaction held the
// version's row, so no other change of thread data came after its own. Else the cache is
// dropped until a batch reads again.
func (c *threadCache) commit(ch *threadChanges, end int64, bumped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := ch.base
	if bumped {
		want++
	}
	switch {
	case ch.room:
		// Which keys and messages went with the room is not known here: empty, the cache
		// is exact for any version.
		c.resetLocked(end)
		return
	case ch.baseOK && c.valid && c.version == ch.base && end == want:
		c.version = end
		for _, k := range ch.changed {
			c.dropMsgLocked(cacheKey(k))
		}
	case bumped:
		c.resetLocked(end)
	default:
		c.dropLocked()
		return
	}
	for _, kc := range ch.keys {
		c.putKeyLocked(kc.k, kc.thread)
	}
	for k, m := range ch.started {
		c.putMsgLocked(k, m)
	}
}

// forget drops the cache: a transaction that changed thread data ended in a way that
// leaves the database's version unknown to this node.
func (c *threadCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

// dropLocked empties the cache and leaves it exact for no version.
func (c *threadCache) dropLocked() {
	c.resetLocked(0)
	c.valid = false
}

func (c *threadCache) resetLocked(v int64) {
	c.valid, c.version = true, v
	c.keys, c.msgs, c.bytes = map[string]string{}, map[string]string{}, 0
}

func (c *threadCache) putKeyLocked(k memberKey, thread string) {
	ck := cacheKey(k)
	if _, ok := c.keys[ck]; !ok && len(c.keys) >= threadCacheKeys {
		for old := range c.keys { // map order is random: a random eighth goes
			delete(c.keys, old)
			if len(c.keys) <= threadCacheKeys*7/8 {
				break
			}
		}
	}
	c.keys[ck] = thread
}

func (c *threadCache) putMsgLocked(k memberKey, m chat.Message) {
	ck := cacheKey(k)
	c.dropMsgLocked(ck)
	e := encodeMessage(m)
	if len(e) > threadCacheBytes/1024 {
		return // an unusually large message is read when needed
	}
	for old := range c.msgs {
		if c.bytes+len(e) <= threadCacheBytes {
			break
		}
		c.dropMsgLocked(old)
	}
	c.msgs[ck] = e
	c.bytes += len(e)
}

func (c *threadCache) dropMsgLocked(ck string) {
	if e, ok := c.msgs[ck]; ok {
		c.bytes -= len(e)
		delete(c.msgs, ck)
	}
}

// cacheKey is a (room, key) or (room, message) pair as one string (ids hold no NUL).
func cacheKey(k memberKey) string { return k.room + "\x00" + k.user }

// encodeMessage packs a message into one string: each text field length-prefixed, the
// times and the hop count as varints. decodeMessage gives it back; its strings share the
// encoded one's memory.
func encodeMessage(m chat.Message) string {
	b := make([]byte, 0, 64+len(m.ID)+len(m.RoomID)+len(m.ThreadID)+len(m.Sender.Name)+len(m.Text)+len(m.HTML))
	for _, f := range [...]string{m.ID, m.RoomID, m.ThreadID, m.Sender.Type, m.Sender.ID, m.Sender.Name, m.Sender.AvatarURL, m.Text, m.Format, m.HTML} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Mentions)))
	for _, mn := range m.Mentions {
		for _, f := range [...]string{mn.Type, mn.UserID} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
	}
	var upd int64
	if m.UpdatedAt != nil {
		upd = micros(*m.UpdatedAt)
	}
	b = binary.AppendVarint(b, micros(m.CreatedAt))
	b = binary.AppendVarint(b, upd)
	b = binary.AppendVarint(b, int64(m.RelayHops))
	return string(b)
}

func decodeMessage(e string) chat.Message {
	uvarint := func() uint64 {
		var v uint64
		for i := 0; ; i++ {
			c := e[i]
			v |= uint64(c&0x7f) << (7 * i)
			if c < 0x80 {
				e = e[i+1:]
				return v
			}
		}
	}
	str := func() string {
		n := int(uvarint())
		s := e[:n]
		e = e[n:]
		return s
	}
	num := func() int64 { // binary.AppendVarint's zig-zag form
		u := uvarint()
		return int64(u>>1) ^ -int64(u&1)
	}
	var m chat.Message
	m.ID, m.RoomID, m.ThreadID = str(), str(), str()
	m.Sender = chat.Sender{Type: str(), ID: str(), Name: str(), AvatarURL: str()}
	m.Text, m.Format, m.HTML = str(), str(), str()
	m.Mentions = make([]chat.Mention, uvarint())
	for i := range m.Mentions {
		m.Mentions[i] = chat.Mention{Type: str(), UserID: str()}
	}
	m.CreatedAt = fromMicros(num())
	if upd := num(); upd != 0 {
		t := fromMicros(upd)
		m.UpdatedAt = &t
	}
	m.RelayHops = int(num())
	return m
}

// storedMessage is m as the database gives it back after its insert (what scanMessage
// reads): times to the microsecond in UTC, no edit time, mentions never nil.
func storedMessage(m chat.Message) chat.Message {
	m.Mentions = slices.Clone(m.Mentions) // the request's slice is not shared
	if m.Mentions == nil {
		m.Mentions = []chat.Mention{}
	}
	m.CreatedAt = fromMicros(micros(m.CreatedAt))
	m.UpdatedAt = nil
	return m
}
