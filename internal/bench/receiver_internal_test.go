package bench

import "testing"

func TestPostToken(t *testing.T) {
	for body, want := range map[string]int64{ // -1: no token
		`{"data":{"text":"chbench:123; disk usage"}}`: 123,
		`chbench:7;`:                    7,
		`chbench:0;`:                    0,
		`no token`:                      -1,
		`chbench:;`:                     -1,
		`chbench:12`:                    -1,
		`chbench:12 x;`:                 -1,
		`chbench:12345678901234567890;`: -1, // longer than any token
		`x chbench:9;chbench:8;`:        9,
	} {
		n, ok := postToken([]byte(body))
		got := int64(-1)
		if ok {
			got = int64(n)
		}
		if got != want {
			t.Errorf("postToken(%q) = %d, %v; want %d", body, n, ok, want)
		}
	}
}
