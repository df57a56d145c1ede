// Package ids makes identifiers: a type prefix followed by a time-ordered, random suffix
// (48 bits of milliseconds and 80 random bits, Crockford base32), so ids sort by creation
// time and never collide in practice across nodes.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Valid reports whether id has the shape New gives ids with prefix.
func Valid(prefix, id string) bool {
	s, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(s) != 26 || s[0] > '7' { // the top digit carries 3 bits
		return false
	}
	for i := range len(s) {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// New returns prefix + "_" + a 26-character time-ordered random id.
func New(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	buf := make([]byte, 0, len(prefix)+1+26)
	buf = append(buf, prefix...)
	buf = append(buf, '_')
	// 128 bits in 26 base32 digits: the top digit carries 3 bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(append(buf, out[:]...))
}
