package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzValidateURL: an accepted URL is absolute http(s) with a host, no user info, a port
// in range and at most MaxURLLength bytes.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "http://[::1]:80/", "http://a:0/", "ftp://x", "http://u:p@h/", "//x", "http://2130706433/", "http://h:65536/", "https://x:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ValidateURL(raw)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || len(raw) > MaxURLLength || strings.HasSuffix(u.Host, ":") {
			t.Fatalf("ValidateURL(%q) accepted %#v", raw, u)
		}
	})
}

// FuzzIsForbidden: an IPv4 address and its IPv4-mapped, NAT64 and 6to4 forms are judged
// alike (the embedded address decides), and zones never change the verdict.
func FuzzIsForbidden(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{8, 8, 8, 8})
	f.Add([]byte{169, 254, 169, 254})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 {
			if len(b) == 16 {
				a := netip.AddrFrom16([16]byte(b))
				if IsForbidden(a) != IsForbidden(a.WithZone("eth0")) && !a.Is4In6() {
					t.Fatalf("zone changes the verdict on %s", a)
				}
			}
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		want := IsForbidden(v4)
		mapped := netip.AddrFrom16(v4.As16())
		var nat64, sixto4 [16]byte
		copy(nat64[:], []byte{0, 0x64, 0xff, 0x9b})
		copy(nat64[12:], b)
		sixto4[0], sixto4[1] = 0x20, 0x02
		copy(sixto4[2:6], b)
		for name, a := range map[string]netip.Addr{"mapped": mapped, "nat64": netip.AddrFrom16(nat64), "6to4": netip.AddrFrom16(sixto4)} {
			if IsForbidden(a) != want {
				t.Fatalf("%s form %s of %s: forbidden=%v, the IPv4 address: %v", name, a, v4, IsForbidden(a), want)
			}
		}
	})
}
