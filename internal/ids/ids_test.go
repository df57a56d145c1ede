package ids

import (
	"strings"
	"testing"
	"time"
)

func TestNewOrderedAndUnique(t *testing.T) {
	t.Parallel()
	base := time.Unix(1700000000, 0)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := New("msg", base.Add(time.Duration(i)*time.Millisecond))
		if !strings.HasPrefix(id, "msg_") || len(id) != 4+26 {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids not ordered by time: %q after %q", id, prev)
		}
		prev = id
	}
}
