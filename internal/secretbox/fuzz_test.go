package secretbox

import "testing"

// FuzzOpen: Open never panics on arbitrary input and accepts only what Seal produced
// (checked by sealing the fuzzed plain text and opening it back).
func FuzzOpen(f *testing.F) {
	f.Add("v1:", "plain")
	f.Add("v1:AAAA", "")
	f.Add("v2:abc", "\xff")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, sealed, plain string) {
		b, err := New([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := b.Open(sealed); err == nil {
			again, err := b.Seal(got)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := b.Open(again); err != nil || back != got {
				t.Fatalf("round trip of opened %q: %q %v", got, back, err)
			}
		}
		s, err := b.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := b.Open(s); err != nil || back != plain {
			t.Fatalf("Open(Seal(%q)) = %q, %v", plain, back, err)
		}
	})
}
