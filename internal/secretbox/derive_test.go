package secretbox

import (
	"bytes"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	a, _ := New(k1)
	a2, _ := New(k1)
	b, _ := New(k2)
	s := a.DeriveKey("console session")
	if len(s) != 32 || !bytes.Equal(s, a2.DeriveKey("console session")) {
		t.Fatal("a derived key must be 32 bytes and stable for the same key and purpose")
	}
	if bytes.Equal(s, a.DeriveKey("portal link")) || bytes.Equal(s, b.DeriveKey("console session")) {
		t.Fatal("derived keys must differ between purposes and between keys")
	}
	if bytes.Contains(s, k1[:8]) {
		t.Fatal("a derived key must not contain the key")
	}
}
