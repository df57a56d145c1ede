package signing

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRandomToken(t *testing.T) {
	for _, n := range []int{1, 16, 24, 32, 33} {
		tok, err := RandomToken(n)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != n {
			t.Fatalf("RandomToken(%d) = %q: %v, %d bytes", n, tok, err, len(raw))
		}
		if strings.ContainsAny(tok, "+/=") {
			t.Fatalf("RandomToken(%d) = %q is not URL-safe unpadded", n, tok)
		}
	}
	a, _ := RandomToken(32)
	b, _ := RandomToken(32)
	if a == b {
		t.Fatal("two tokens are equal")
	}
	for _, n := range []int{0, -1} {
		if _, err := RandomToken(n); err == nil {
			t.Fatalf("RandomToken(%d): no error", n)
		}
	}
}
