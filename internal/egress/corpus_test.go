package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ssrfLiterals are destinations written as literal IPs: every one must be refused before
// any dial.
var ssrfLiterals = []string{
	// IPv4 loopback, private, shared, link-local/metadata, "this network", reserved
	"127.0.0.1", "127.1.2.3", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
	"192.168.0.1", "192.168.255.255", "169.254.169.254", "169.254.170.2", "100.64.0.1", "100.100.100.200",
	"0.0.0.0", "0.1.2.3", "192.0.0.192", "168.63.129.16", "198.18.0.1", "224.0.0.1", "239.255.255.250",
	"240.0.0.1", "255.255.255.255",
	// IPv6 loopback, unspecified, ULA (AWS metadata), link-local, site-local, multicast
	"[::1]", "[::]", "[fc00::1]", "[fd00:ec2::254]", "[fe80::1]", "[fe80::1%25eth0]", "[fec0::1]", "[ff02::1]",
	// IPv4 embedded in IPv6: mapped, compatible, 6to4, NAT64, Teredo
	"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:0.0.0.0]",
	"[::127.0.0.1]", "[::7f00:1]",
	"[2002:7f00:1::]", "[2002:a9fe:a9fe::1]", "[2002:c0a8:101::]", "[2002:a00:1::]",
	"[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a00:1]", "[2001::1]", "[2001:0:4136:e378::1]",
}

// inetAtonForms are 127.0.0.1 and 169.254.169.254 written the ways inet_aton (and so a libc
// resolver) accepts but Go's IP parser does not: decimal, octal, hexadecimal and short forms.
// To Go they are host names, resolved through the resolver, whose answer is then judged.
var inetAtonForms = map[string]string{
	"2130706433":          "127.0.0.1",
	"017700000001":        "127.0.0.1",
	"0x7f000001":          "127.0.0.1",
	"0x7f.0.0.1":          "127.0.0.1",
	"0177.0.0.1":          "127.0.0.1",
	"0177.0000.0000.01":   "127.0.0.1",
	"127.1":               "127.0.0.1",
	"0x7f.1":              "127.0.0.1",
	"2852039166":          "169.254.169.254",
	"0xa9fea9fe":          "169.254.169.254",
	"0251.0376.0251.0376": "169.254.169.254",
	"0":                   "0.0.0.0",
}

// ssrfNames resolve (through the injected resolver, never the network) to forbidden
// addresses only.
var ssrfNames = map[string][]netip.Addr{
	"internal.test":  {netip.MustParseAddr("10.0.0.5")},
	"meta.test":      {netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")},
	"zero.test":      {netip.MustParseAddr("0.0.0.0")},
	"mapped.test":    {netip.MustParseAddr("::ffff:127.0.0.1")},
	"sixtofour.test": {netip.MustParseAddr("2002:7f00:1::")},
	"nat64.test":     {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
	"allprivate.test": {
		netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("172.20.0.1"),
		netip.MustParseAddr("::1"), netip.MustParseAddr("fe80::2"),
	},
}

// TestSSRFCorpusRefusedAtDial sends a delivery-shaped POST to every destination of the corpus,
// on the default and on explicit ports, over http and https: each fails with
// ErrForbiddenAddress and the dial hook proves no connection was attempted.
func TestSSRFCorpusRefusedAtDial(t *testing.T) {
	table := map[string][]netip.Addr{}
	for name, addrs := range ssrfNames {
		table[name] = addrs
	}
	for form, ip := range inetAtonForms {
		table[form] = []netip.Addr{netip.MustParseAddr(ip)}
	}
	resolver := fakeDNS(t, table)
	var hosts []string
	hosts = append(hosts, ssrfLiterals...)
	for form := range inetAtonForms {
		hosts = append(hosts, form)
	}
	for name := range ssrfNames {
		hosts = append(hosts, name)
	}
	rec := &dialRecorder{fake: true}
	c := recordingClient(Options{Resolver: resolver}, rec)
	n := 0
	for _, host := range hosts {
		for _, target := range []string{"http://" + host + "/hook", "https://" + host + ":8443/hook", "http://" + host + ":80/latest/meta-data/"} {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(`{"type":"x"}`))
			if err != nil {
				cancel()
				t.Fatalf("%s: %v", target, err)
			}
			resp, err := c.Do(req)
			cancel()
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: got %s, want refusal", target, resp.Status)
				continue
			}
			var dnsErr *net.DNSError
			switch {
			case errors.Is(err, ErrForbiddenAddress):
			case allDigits(host) && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
				// Go's resolver does not even look up a name of digits and dots (no DNS
				// name is one); a libc resolver would turn it into an IP, which is then judged.
			default:
				t.Errorf("%s: err = %v, want ErrForbiddenAddress", target, err)
			}
			n++
		}
	}
	if d := rec.dialed(); len(d) != 0 {
		t.Fatalf("the guard let dials through: %v", d)
	}
	t.Logf("%d destinations (%d hosts) refused before any dial", n, len(hosts))
}

// allDigits reports whether s is made of digits and dots only.
func allDigits(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return s != ""
}

// TestSSRFRebindingBetweenCheckAndConnect: a name that resolves to a public address when
// first looked up (as a create-time check would) and to loopback afterwards is refused at
// connect time. The guard resolves once per dial and connects to exactly the addresses it
// judged, so no later answer can slip in between.
func TestSSRFRebindingBetweenCheckAndConnect(t *testing.T) {
	srv := newCountingServer(t, nil)
	port := serverPort(t, srv.Server)
	public := netip.MustParseAddr("93.184.215.14")
	loop := netip.MustParseAddr("127.0.0.1")

	// The "check": resolve the name as anything validating the URL would.
	var rebound atomic.Bool // false: the name points at a public address; true: at loopback
	answers := func() []netip.Addr {
		if rebound.Load() {
			return []netip.Addr{loop}
		}
		return []netip.Addr{public}
	}
	resolver := dynamicDNS(t, "rebind.test", answers)
	got, err := resolver.LookupNetIP(context.Background(), "ip4", "rebind.test")
	if err != nil || len(got) != 1 || got[0] != public {
		t.Fatalf("first lookup: %v %v, want the public address", got, err)
	}
	// The connect: the name now points at the server itself.
	rebound.Store(true)
	rec := &dialRecorder{}
	c := recordingClient(Options{Resolver: resolver}, rec)
	wantForbidden(t, c, "http://rebind.test:"+port+"/hook")
	if d := rec.dialed(); len(d) != 0 {
		t.Fatalf("dialed %v after rebinding", d)
	}
	if srv.conns.Load() != 0 {
		t.Fatal("the loopback server saw a connection")
	}
}

// dynamicDNS is fakeDNS for one name whose A answers come from answers() at query time.
func dynamicDNS(t *testing.T, name string, answers func() []netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], map[string][]netip.Addr{name: answers()}); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", server)
	}}
}

// TestSSRFRedirectFromPublicToPrivate: a public receiver (simulated: the dial to its public
// address is routed to a loopback server) answers with a redirect to loopback or to the
// metadata address. The client returns the 3xx as the answer and dials nothing else.
func TestSSRFRedirectFromPublicToPrivate(t *testing.T) {
	var targets = []string{"http://127.0.0.1/admin", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/", "http://internal.test/"}
	i := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, targets[i%len(targets)], http.StatusTemporaryRedirect)
	})
	srv := newCountingServer(t, mux)
	var mu sync.Mutex
	var dialed []string
	route := func(next dialFunc) dialFunc {
		return func(ctx context.Context, network, address string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, address)
			mu.Unlock()
			if address != "93.184.215.14:80" {
				return nil, errors.New("test: unexpected dial")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
		}
	}
	o := Options{Resolver: fakeDNS(t, map[string][]netip.Addr{
		"receiver.test": {netip.MustParseAddr("93.184.215.14")},
		"internal.test": {netip.MustParseAddr("10.0.0.5")},
	})}
	c := NewClient(o)
	c.Transport = newTransport(o, route)
	for i = 0; i < len(targets); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://receiver.test/hook", strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != targets[i] {
			t.Fatalf("got %s Location=%q, want the 307 to %s returned as the answer", resp.Status, resp.Header.Get("Location"), targets[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialed {
		if a != "93.184.215.14:80" {
			t.Fatalf("dialed %s: a redirect was followed", a)
		}
	}
}

// TestDNSFailures: a name that does not exist, and a name server that never answers, fail
// the request (within its deadline for the silent server) without any dial.
func TestDNSFailures(t *testing.T) {
	rec := &dialRecorder{fake: true}
	c := recordingClient(Options{Resolver: fakeDNS(t, nil)}, rec)
	_, err := get(t, c, "http://no-such-name.test/hook")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("unknown name: err = %v, want a not-found DNS error", err)
	}
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", silent.LocalAddr().String())
	}}
	c = recordingClient(Options{Resolver: mute}, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://silent.test/hook", strings.NewReader("{}"))
	began := time.Now()
	if _, err := c.Do(req); err == nil {
		t.Fatal("a request to a name nobody resolves succeeded")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("a silent name server held the request %v, past its 500 ms deadline", took)
	}
	if d := rec.dialed(); len(d) != 0 {
		t.Fatalf("dialed %v", d)
	}
}
