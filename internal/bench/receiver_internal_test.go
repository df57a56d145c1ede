package bench

import "testing"

func TestPostToken(t *testing.T) {
	for body, want := range map[string]string{
		`{"data":{"text":"chbench:123; disk usage"}}`: "123",
		`chbench:7;`:             "7",
		`no token`:               "",
		`chbench:;`:              "",
		`chbench:12`:             "",
		`chbench:12 x;`:          "",
		`x chbench:9;chbench:8;`: "9",
	} {
		if got := string(postToken([]byte(body))); got != want {
			t.Errorf("postToken(%q) = %q, want %q", body, got, want)
		}
	}
}
