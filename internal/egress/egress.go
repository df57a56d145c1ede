// Package egress builds the server's only outgoing HTTP client, used for webhook deliveries
// and endpoint verification.
//
// Unless Options.AllowPrivate is set, the client refuses to connect to loopback, private,
// link-local, multicast, cloud-metadata and other non-public addresses. The check is made on
// the resolved IP at dial time, on the very address that is then connected to: the dialer
// resolves the host itself, drops every forbidden candidate, dials the remaining ones by IP,
// and a net.Dialer Control hook re-checks the socket address just before connect(2). A DNS
// answer that changes between URL validation and delivery (rebinding), a literal IP, or a
// hostname resolving to 127.0.0.1 is therefore refused before any packet is sent. Redirects
// are never followed and proxies from the environment are never used, so neither can route
// around the check.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned, wrapped, when a destination IP is not allowed. The client's
// errors keep it reachable with errors.Is through the *url.Error and *net.OpError chain.
var ErrForbiddenAddress = errors.New("egress: destination address not allowed")

// Options configures NewClient. The zero value is the safe production default.
type Options struct {
	// AllowPrivate (--allow-private-targets) turns the destination check off: loopback,
	// private and other non-public addresses may then be reached.
	AllowPrivate bool
	// MaxIdleConnsPerHost bounds the keep-alive pool per host; 0 means 64.
	MaxIdleConnsPerHost int
	// DialTimeout bounds each TCP connect; 0 means 5s. Whole-request deadlines come from the
	// request context.
	DialTimeout time.Duration
	// Resolver resolves host names; nil means net.DefaultResolver. Tests inject a Go resolver
	// whose Dial points at a fake DNS server.
	Resolver *net.Resolver
	// RootCAs, if set, replaces the system's roots for verifying servers' certificates.
	RootCAs *x509.CertPool
}

const (
	defaultMaxIdleConnsPerHost = 64
	defaultDialTimeout         = 5 * time.Second
	// MaxURLLength bounds the endpoint URLs ValidateURL accepts.
	MaxURLLength = 4096
)

// NewClient returns the outgoing HTTP client. It speaks HTTP/1.1 with keep-alive and a
// per-host idle pool, never follows redirects (a 3xx comes back as the response), takes no
// proxy from the environment, and has no overall timeout: set one on each request's context.
// Unless o.AllowPrivate, connections to addresses for which IsForbidden holds fail with an
// error wrapping ErrForbiddenAddress.
func NewClient(o Options) *http.Client {
	return &http.Client{
		Transport: newTransport(o, nil),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialFunc connects to one literal "ip:port"; tests wrap the real one to see every dial.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func newTransport(o Options, wrapDial func(dialFunc) dialFunc) *transport {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	resolver := o.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	nd := &net.Dialer{
		Timeout:   o.DialTimeout,
		KeepAlive: 30 * time.Second,
	}
	if !o.AllowPrivate {
		nd.Control = controlGuard
	}
	g := &guardedDialer{
		allowPrivate: o.AllowPrivate,
		resolver:     resolver,
		dial:         nd.DialContext,
	}
	if wrapDial != nil {
		g.dial = wrapDial(g.dial)
	}
	// No proxy (an environment proxy would bypass the address check), HTTP/1.1 only, over
	// TLS too: one request per connection at a time; whole-request deadlines come from the
	// request context.
	return &transport{
		dial:             g.DialContext,
		tlsConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs}, // nil: the system's
		handshakeTimeout: 10 * time.Second,
		maxIdlePerHost:   o.MaxIdleConnsPerHost,
		idleTimeout:      90 * time.Second,
		maxHeaderBytes:   64 << 10,
	}
}

type guardedDialer struct {
	allowPrivate bool
	resolver     *net.Resolver
	dial         dialFunc
}

// DialContext resolves address's host, refuses forbidden candidates and dials the allowed ones
// in the resolver's order until one connects.
func (g *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("egress: bad port %q", portText)}
	}
	var ipNet string
	switch network {
	case "tcp":
		ipNet = "ip"
	case "tcp4":
		ipNet = "ip4"
	case "tcp6":
		ipNet = "ip6"
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}

	var candidates []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		candidates = []netip.Addr{ip}
	} else {
		if host == "" {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("egress: empty host")}
		}
		candidates, err = g.resolver.LookupNetIP(ctx, ipNet, host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}

	allowed := candidates[:0:0]
	var refused []netip.Addr
	for _, ip := range candidates {
		ip = ip.Unmap() // the resolver may return IPv4 answers as ::ffff:a.b.c.d
		if !g.allowPrivate && IsForbidden(ip) {
			refused = append(refused, ip)
			continue
		}
		allowed = append(allowed, ip)
	}
	if len(allowed) == 0 {
		if len(refused) > 0 {
			return nil, forbiddenError(network, host, refused, uint16(port))
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}

	var firstErr error
	for _, ip := range allowed {
		if err := ctx.Err(); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			break
		}
		conn, err := g.dial(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func forbiddenError(network, host string, refused []netip.Addr, port uint16) error {
	var b strings.Builder
	for i, ip := range refused {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ip.String())
	}
	detail := b.String()
	if h, err := netip.ParseAddr(host); err != nil || h != refused[0] || len(refused) > 1 {
		detail = host + " resolves to " + detail
	}
	return &net.OpError{
		Op:   "dial",
		Net:  network,
		Addr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(refused[0], port)),
		Err:  fmt.Errorf("%w: %s", ErrForbiddenAddress, detail),
	}
}

// controlGuard runs on every socket just before connect(2): a second line of defence, in case
// an address ever reaches the dialer without going through guardedDialer's check.
func controlGuard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable socket address %q", ErrForbiddenAddress, address)
	}
	if IsForbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// IsForbidden reports whether ip must not be a delivery destination: anything that is not a
// public, globally routed unicast address. That covers unspecified, loopback, private (RFC 1918,
// fc00::/7 including AWS's fd00:ec2::254), shared/CGNAT (100.64/10, where Alibaba's metadata
// 100.100.100.200 lives), link-local (169.254/16 with the 169.254.169.254 metadata endpoint,
// fe80::/10), site-local fec0::/10, multicast, 0/8, 240/4 and broadcast, IETF protocol
// assignments (192.0.0.0/24 with Oracle's 192.0.0.192 metadata, 2001::/23 with Teredo),
// documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20),
// benchmarking (198.18/15, 2001:2::/48), the deprecated 6to4 relay anycast 192.88.99/24, the
// discard prefix 100::/64, Azure's wireserver 168.63.129.16, and every IPv6 address outside
// 2000::/3. Addresses that embed an IPv4 address are judged by it: IPv4-mapped ::ffff:a.b.c.d,
// NAT64 64:ff9b::/96 and 6to4 2002::/16 (IPv4-compatible, IPv4-translated and local-use NAT64
// 64:ff9b:1::/48 forms are refused outright). Zones are ignored; an invalid Addr is forbidden.
func IsForbidden(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		return forbidden4(ip.Unmap().As4())
	}
	if ip.Is4() {
		return forbidden4(ip.As4())
	}
	return forbidden6(ip.As16())
}

func forbidden4(a [4]byte) bool {
	switch {
	case a[0] == 0: // "this network" 0.0.0.0/8, unspecified
	case a[0] == 10: // RFC 1918
	case a[0] == 100 && a[1]&0xc0 == 64: // 100.64.0.0/10 shared address space (CGNAT)
	case a[0] == 127: // loopback
	case a[0] == 169 && a[1] == 254: // link-local, 169.254.169.254 metadata
	case a[0] == 172 && a[1]&0xf0 == 16: // RFC 1918 172.16.0.0/12
	case a[0] == 192 && a[1] == 0 && a[2] == 0: // 192.0.0.0/24 IETF protocol assignments
	case a[0] == 192 && a[1] == 0 && a[2] == 2: // TEST-NET-1
	case a[0] == 192 && a[1] == 88 && a[2] == 99: // deprecated 6to4 relay anycast
	case a[0] == 192 && a[1] == 168: // RFC 1918
	case a[0] == 198 && a[1]&0xfe == 18: // 198.18.0.0/15 benchmarking
	case a[0] == 198 && a[1] == 51 && a[2] == 100: // TEST-NET-2
	case a[0] == 203 && a[1] == 0 && a[2] == 113: // TEST-NET-3
	case a[0] >= 224: // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
	case a == [4]byte{168, 63, 129, 16}: // Azure wireserver / metadata relay
	default:
		return false
	}
	return true
}

func forbidden6(a [16]byte) bool {
	switch {
	case a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b: // 64:ff9b::/32 area
		if isZero(a[4:12]) { // 64:ff9b::/96 well-known NAT64 prefix: judge the IPv4 inside
			return forbidden4([4]byte(a[12:16]))
		}
		return true // 64:ff9b:1::/48 local-use NAT64 and the rest of the area
	case a[0]&0xe0 != 0x20:
		// Outside 2000::/3 (global unicast): ::, ::1, IPv4-compatible and -translated forms,
		// 100::/64 discard, fc00::/7, fe80::/10, fec0::/10, ff00::/8 multicast, ...
		return true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02:
		// 2001::/23 IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48,
		// ORCHID, AMT, ...; none is a webhook receiver.
		return true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8: // 2001:db8::/32 documentation
		return true
	case a[0] == 0x3f && a[1] == 0xff && a[2]&0xf0 == 0: // 3fff::/20 documentation
		return true
	case a[0] == 0x20 && a[1] == 0x02: // 2002::/16 6to4: judge the IPv4 inside
		return forbidden4([4]byte(a[2:6]))
	}
	return false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// ValidateURL checks an endpoint URL when it is created or changed: absolute http or https,
// a host, an optional port in 1..65535, no userinfo, at most MaxURLLength bytes. It does not
// resolve the host or judge its address: that happens at every dial (see IsForbidden), where
// it cannot be raced by DNS.
func ValidateURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("egress: empty URL")
	}
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("egress: URL longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("egress: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" { // url.Parse lower-cases the scheme
		return nil, fmt.Errorf("egress: URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New("egress: URL must be of the form scheme://host/...")
	}
	if u.User != nil {
		return nil, errors.New("egress: URL must not contain a user name or password")
	}
	if u.Hostname() == "" {
		return nil, errors.New("egress: URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("egress: URL port %q out of range", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, errors.New("egress: URL has an empty port")
	}
	return u, nil
}
