package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// LiteralTarget reports the address a URL host names without any DNS lookup, and whether it
// names one: an IP literal in any form a resolver or socket library accepts (dotted quad,
// IPv6 with or without zone, and the legacy IPv4 forms inet_aton takes: 2130706433,
// 0x7f.1, 0177.0.0.1, 127.1), or "localhost" and its subdomains, which resolvers answer
// with loopback without asking DNS. A trailing dot is ignored.
func LiteralTarget(host string) (netip.Addr, bool) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone(""), true
	}
	if ip, ok := parseLegacyIPv4(h); ok {
		return ip, true
	}
	return netip.Addr{}, false
}

// parseLegacyIPv4 parses the forms inet_aton(3) accepts: one to four parts separated by
// dots, each decimal, octal (leading 0) or hexadecimal (leading 0x); the last part fills
// the remaining bytes.
func parseLegacyIPv4(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// CheckTarget refuses, before any delivery is attempted, a URL whose host can only ever be
// a forbidden destination: a literal address for which IsForbidden holds, or localhost. A
// host name that needs DNS passes here and is judged at every dial. The error wraps
// ErrForbiddenAddress.
func CheckTarget(raw string) error {
	u, err := ValidateURL(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	ip, ok := LiteralTarget(host)
	if !ok || !IsForbidden(ip) {
		return nil
	}
	if strings.Contains(strings.ToLower(host), "localhost") {
		return fmt.Errorf("%w: %s is a loopback name", ErrForbiddenAddress, host)
	}
	if ip.String() != strings.Trim(host, "[]") {
		return fmt.Errorf("%w: %s is %s, %s", ErrForbiddenAddress, host, ip, kind(ip))
	}
	return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ip, kind(ip))
}

// kind names the class of a forbidden address for error messages.
func kind(ip netip.Addr) string {
	u := ip.Unmap()
	switch {
	case u.IsUnspecified():
		return "the unspecified address"
	case u.IsLoopback():
		return "a loopback address"
	case u.IsPrivate():
		return "a private address"
	case u == netip.AddrFrom4([4]byte{169, 254, 169, 254}):
		return "the cloud metadata address"
	case u.IsLinkLocalUnicast():
		return "a link-local address"
	case u.IsMulticast():
		return "a multicast address"
	}
	return "not a public address"
}
