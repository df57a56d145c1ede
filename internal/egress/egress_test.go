package egress

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every test talks to 127.0.0.1 (or ::1) only. Non-loopback targets appear solely where the
// guard must refuse them before any dial; the recording dial hook proves no connect happened.

const testTimeout = 5 * time.Second

// countingServer is an httptest server that counts accepted connections and requests.
type countingServer struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	cs := &countingServer{}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// dialRecorder wraps the real dialer and records every address actually dialed.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
	// fake, when set, replaces the real dial (for addresses that must never be contacted).
	fake bool
}

func (d *dialRecorder) wrap(next dialFunc) dialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		d.mu.Lock()
		d.addrs = append(d.addrs, address)
		d.mu.Unlock()
		if d.fake {
			return nil, errors.New("test: fake dial, nothing sent")
		}
		return next(ctx, network, address)
	}
}

func (d *dialRecorder) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func recordingClient(o Options, rec *dialRecorder) *http.Client {
	c := NewClient(o)
	c.Transport = newTransport(o, rec.wrap)
	return c
}

func get(t *testing.T, c *http.Client, rawURL string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func wantForbidden(t *testing.T, c *http.Client, rawURL string) error {
	t.Helper()
	resp, err := get(t, c, rawURL)
	if err == nil {
		t.Fatalf("GET %s: got %s, want ErrForbiddenAddress", rawURL, resp.Status)
	}
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("GET %s: err = %v, want ErrForbiddenAddress", rawURL, err)
	}
	var ue *url.Error
	var oe *net.OpError
	if !errors.As(err, &ue) || !errors.As(err, &oe) {
		t.Fatalf("GET %s: err %T %v is not a *url.Error wrapping a *net.OpError", rawURL, err, err)
	}
	return err
}

// fakeDNS is a tiny UDP DNS server on 127.0.0.1 answering A and AAAA queries from a table.
// A *net.Resolver with PreferGo and a Dial pointing here resolves only through it.
func fakeDNS(t *testing.T, table map[string][]netip.Addr) *net.Resolver {
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
			if resp := dnsAnswer(buf[:n], table); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", server) // never the system's name server
		},
	}
}

func dnsAnswer(q []byte, table map[string][]netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	question := q[12 : i+4]
	addrs, known := table[strings.ToLower(strings.Join(labels, "."))]

	resp := make([]byte, 12, 512)
	copy(resp[0:2], q[0:2])
	flags := uint16(0x8580) // response, authoritative, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:4], flags)
	binary.BigEndian.PutUint16(resp[4:6], 1)
	resp = append(resp, question...)
	var an uint16
	for _, a := range addrs {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		resp = append(resp, 0xc0, 12) // pointer to the question's name
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // IN
		resp = binary.BigEndian.AppendUint32(resp, 0) // TTL
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
		an++
	}
	binary.BigEndian.PutUint16(resp[6:8], an)
	return resp
}

func serverPort(t *testing.T, s *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func TestGuardRefusesLoopbackServer(t *testing.T) {
	srv := newCountingServer(t, nil)
	rec := &dialRecorder{}
	c := recordingClient(Options{}, rec)
	wantForbidden(t, c, srv.URL+"/hook")
	wantForbidden(t, NewClient(Options{}), srv.URL+"/hook")
	if d := rec.dialed(); len(d) != 0 {
		t.Fatalf("dialed %v", d)
	}
	// Prove no connection reached the server: a permitted request now is its first connection.
	open := NewClient(Options{AllowPrivate: true})
	resp, err := get(t, open, srv.URL+"/hook")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	open.CloseIdleConnections()
	if n, r := srv.conns.Load(), srv.requests.Load(); n != 1 || r != 1 {
		t.Fatalf("server saw %d connections and %d requests, want 1 and 1 (the permitted one)", n, r)
	}
}

func TestGuardRefusesIPv6Loopback(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("::1 unavailable: %v", err)
	}
	srv := &countingServer{}
	srv.Server = &httptest.Server{Listener: l, Config: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.requests.Add(1) }),
	}}
	srv.Start()
	defer srv.Close()
	rec := &dialRecorder{}
	wantForbidden(t, recordingClient(Options{}, rec), srv.URL+"/")
	if !strings.HasPrefix(srv.URL, "http://[::1]:") {
		t.Fatalf("server URL %s", srv.URL)
	}
	if d := rec.dialed(); len(d) != 0 {
		t.Fatalf("dialed %v", d)
	}
	// Reachable when private targets are allowed.
	resp, err := get(t, NewClient(Options{AllowPrivate: true}), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if srv.requests.Load() != 1 {
		t.Fatalf("server saw %d requests", srv.requests.Load())
	}
}

func TestGuardRefusesBeforeDialing(t *testing.T) {
	for _, target := range []string{
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"https://192.168.1.1:8443/x",
		"http://100.100.100.200/latest/meta-data/",
		"http://[::ffff:127.0.0.1]:80/",
		"http://[64:ff9b::a9fe:a9fe]/", // NAT64 of 169.254.169.254
		"http://[2002:a00:1::]/",       // 6to4 of 10.0.0.1
		"http://0.0.0.0:80/",           // "this host"
		"http://[fe80::1%25lo]:80/",    // link-local with zone
		"http://2130706433/",           // decimal 127.0.0.1: not an IP to Go, a name lookup that fails or is refused
		"http://[::]/",
		"http://224.0.0.1/",
		"http://255.255.255.255/",
	} {
		t.Run(target, func(t *testing.T) {
			rec := &dialRecorder{fake: true}
			c := recordingClient(Options{}, rec)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(target, "2130706433") {
				// Resolve with a fake DNS that has no such name, so nothing leaves the host.
				c.Transport = newTransport(Options{Resolver: fakeDNS(t, nil)}, rec.wrap)
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
			} else {
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s", resp.Status)
				}
				if !errors.Is(err, ErrForbiddenAddress) {
					t.Fatalf("err = %v, want ErrForbiddenAddress", err)
				}
			}
			if d := rec.dialed(); len(d) != 0 {
				t.Fatalf("the guard let a dial through: %v", d)
			}
		})
	}
}

func TestGuardRefusesNamesResolvingToLoopback(t *testing.T) {
	srv := newCountingServer(t, nil)
	port := serverPort(t, srv.Server)

	t.Run("localhost", func(t *testing.T) {
		if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err != nil {
			t.Skipf("localhost does not resolve here: %v", err)
		}
		rec := &dialRecorder{}
		err := wantForbidden(t, recordingClient(Options{}, rec), "http://localhost:"+port+"/")
		if !strings.Contains(err.Error(), "localhost resolves to 127.0.0.1") {
			t.Errorf("error text %q does not name the host and address", err)
		}
		if d := rec.dialed(); len(d) != 0 {
			t.Fatalf("dialed %v", d)
		}
	})

	// rebind.test resolves (through a fake DNS server on 127.0.0.1, injected as
	// Options.Resolver) to 127.0.0.1: an attacker's name pointing at the server itself.
	t.Run("rebind.test", func(t *testing.T) {
		resolver := fakeDNS(t, map[string][]netip.Addr{
			"rebind.test": {netip.MustParseAddr("127.0.0.1")},
			"meta.test":   {netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")},
		})
		rec := &dialRecorder{}
		c := recordingClient(Options{Resolver: resolver}, rec)
		wantForbidden(t, c, "http://rebind.test:"+port+"/hook")
		rec.fake = true
		wantForbidden(t, c, "http://meta.test/latest/meta-data/")
		if d := rec.dialed(); len(d) != 0 {
			t.Fatalf("dialed %v", d)
		}
		// With private targets allowed the same resolver leads to the server: the injected
		// resolver really is the one used.
		rec.fake = false
		c = recordingClient(Options{Resolver: resolver, AllowPrivate: true}, rec)
		resp, err := get(t, c, "http://rebind.test:"+port+"/hook")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := rec.dialed(); len(d) != 1 || d[0] != "127.0.0.1:"+port {
			t.Fatalf("dialed %v, want [127.0.0.1:%s]", d, port)
		}
	})

	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("server saw %d requests, want only the permitted one", n)
	}
}

// A name with both a forbidden and a public address: only the public one is dialed (the dial
// is faked, so nothing is sent to it).
func TestGuardDialsOnlyAllowedCandidates(t *testing.T) {
	resolver := fakeDNS(t, map[string][]netip.Addr{
		"mixed.test": {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("127.0.0.1")},
	})
	rec := &dialRecorder{fake: true}
	_, err := get(t, recordingClient(Options{Resolver: resolver}, rec), "http://mixed.test:8080/")
	if err == nil || errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want the fake dial's error", err)
	}
	if d := rec.dialed(); len(d) != 1 || d[0] != "93.184.215.14:8080" {
		t.Fatalf("dialed %v, want only the public address", d)
	}
}

// The Control hook is the second line: a net.Dialer using it refuses a loopback socket
// before connect(2), so the listener never sees a connection.
func TestControlGuard(t *testing.T) {
	srv := newCountingServer(t, nil)
	d := net.Dialer{Control: controlGuard, Timeout: testTimeout}
	_, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("err %T is not a *net.OpError", err)
	}
	for _, addr := range []string{"10.0.0.1:80", "169.254.169.254:80", "[::1]:80", "garbage"} {
		if err := controlGuard("tcp", addr, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("controlGuard(%s) = %v", addr, err)
		}
	}
	if err := controlGuard("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Errorf("controlGuard(public) = %v", err)
	}
	// The refused dial never reached the listener: a permitted request is its first connection.
	resp, err := get(t, NewClient(Options{AllowPrivate: true}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want 1", n)
	}
}

func TestAllowPrivateReachesServer(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Proto != "HTTP/1.1" {
			t.Errorf("proto %s", r.Proto)
		}
		io.WriteString(w, "pong")
	}))
	c := NewClient(Options{AllowPrivate: true})
	for range 3 {
		resp, err := get(t, c, srv.URL+"/ping")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "pong" {
			t.Fatalf("%s %q", resp.Status, body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("3 sequential requests used %d connections, want 1 (keep-alive)", n)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var targetHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/perm", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) })
	srv := newCountingServer(t, mux)
	c := NewClient(Options{AllowPrivate: true})
	for path, code := range map[string]int{"/hook": http.StatusFound, "/perm": http.StatusPermanentRedirect} {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(`{"a":1}`))
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != code || resp.Header.Get("Location") != "/target" {
			t.Fatalf("%s: %s Location=%q, want %d returned as-is", path, resp.Status, resp.Header.Get("Location"), code)
		}
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("redirect followed %d times", n)
	}
}

func TestHTTP1OverTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := NewClient(Options{AllowPrivate: true, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.Proto != "HTTP/1.1" || string(body) != "HTTP/1.1" {
		t.Fatalf("negotiated %s / server saw %s, want HTTP/1.1", resp.Proto, body)
	}
	// And the guard applies to TLS the same way.
	if _, err := get(t, NewClient(Options{}), srv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("TLS to loopback: %v", err)
	}
}

func TestTransportSettings(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	c := NewClient(Options{})
	tr, ok := c.Transport.(*transport)
	if !ok {
		t.Fatalf("transport %T", c.Transport)
	}
	if tr.maxIdlePerHost != 64 || tr.idleTimeout <= 0 || tr.maxHeaderBytes != 64<<10 {
		t.Fatalf("maxIdlePerHost=%d idleTimeout=%s maxHeaderBytes=%d", tr.maxIdlePerHost, tr.idleTimeout, tr.maxHeaderBytes)
	}
	if tr.handshakeTimeout <= 0 || tr.handshakeTimeout > 30*time.Second {
		t.Fatalf("handshakeTimeout %s", tr.handshakeTimeout)
	}
	if tr.tlsConfig == nil || tr.tlsConfig.MinVersion < tls.VersionTLS12 || tr.tlsConfig.InsecureSkipVerify {
		t.Fatalf("TLS config %+v", tr.tlsConfig)
	}
	if c.Timeout != 0 || c.Jar != nil || c.CheckRedirect == nil {
		t.Fatalf("client: timeout %s, jar %v", c.Timeout, c.Jar)
	}
	if err := c.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
		t.Fatalf("CheckRedirect = %v", err)
	}
	if got := NewClient(Options{MaxIdleConnsPerHost: 8}).Transport.(*transport).maxIdlePerHost; got != 8 {
		t.Fatalf("MaxIdleConnsPerHost option ignored: %d", got)
	}
	// With the proxy variables set, a permitted request still goes straight to the server.
	srv := newCountingServer(t, nil)
	c2 := NewClient(Options{AllowPrivate: true})
	resp, err := get(t, c2, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestIsForbidden(t *testing.T) {
	cases := []struct {
		ip        string
		forbidden bool
	}{
		// IPv4
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"100.64.0.1", true},
		{"100.100.100.200", true}, // Alibaba metadata
		{"100.127.255.255", true},
		{"100.128.0.1", false},
		{"100.63.255.255", false},
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"169.254.169.254", true}, // AWS/GCP/Azure metadata
		{"169.254.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.15.255.255", false},
		{"172.32.0.1", false},
		{"192.0.0.192", true}, // Oracle metadata
		{"192.0.2.1", true},
		{"192.88.99.1", true},
		{"192.168.0.1", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.20.0.1", false},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"240.0.0.1", true},
		{"255.255.255.255", true},
		{"168.63.129.16", true}, // Azure wireserver
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.215.14", false},
		{"192.0.3.1", false},
		{"11.0.0.1", false},
		{"126.255.255.255", false},
		{"128.0.0.1", false},
		{"223.255.255.254", false},
		// IPv6
		{"::", true},
		{"::1", true},
		{"::127.0.0.1", true},      // IPv4-compatible (deprecated)
		{"::8.8.8.8", true},        // IPv4-compatible, even of a public address
		{"::ffff:0:8.8.8.8", true}, // IPv4-translated
		{"100::1", true},           // discard-only
		{"fc00::1", true},
		{"fd00:ec2::254", true}, // AWS IPv6 metadata
		{"fdff:ffff::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::1", true},
		{"fec0::1", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		{"2001:db8::1", true},
		{"2001::1", true},    // Teredo
		{"2001:2::1", true},  // benchmarking
		{"2001:10::1", true}, // ORCHID
		{"3fff::1", true},    // documentation (RFC 9637)
		{"4000::1", true},    // outside 2000::/3
		{"2606:4700:4700::1111", false},
		{"2001:4860:4860::8888", false},
		{"2a00:1450:4001::1", false},
		{"2001:200::1", false},
		{"3ffe::1", false},
		// IPv4-mapped and translated forms
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::7f00:1", true},   // NAT64 of 127.0.0.1
		{"64:ff9b::10.0.0.1", true}, // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b::808:808", false},  // NAT64 of 8.8.8.8
		{"64:ff9b:1::808:808", true}, // local-use NAT64
		{"2002:7f00:1::", true},      // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", true},   // 6to4 of 192.168.1.1
		{"2002:808:808::1", false},   // 6to4 of 8.8.8.8
	}
	if len(cases) < 30 {
		t.Fatal("too few cases")
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if got := IsForbidden(ip); got != c.forbidden {
			t.Errorf("IsForbidden(%s) = %v, want %v", c.ip, got, c.forbidden)
		}
	}
	if !IsForbidden(netip.Addr{}) {
		t.Error("the zero Addr must be forbidden")
	}
	// Cross-check with the standard library's classification: nothing it calls loopback,
	// private, link-local, multicast or unspecified, or not global unicast, passes.
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip).WithZone("").Unmap()
		if (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
			ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || !ip.IsGlobalUnicast()) && !IsForbidden(ip) {
			t.Errorf("IsForbidden(%s) = false, but the standard library classifies it as non-public", ip)
		}
	}
}

func TestValidateURL(t *testing.T) {
	ok := []string{
		"https://receiver.example.com/hook",
		"http://receiver.example.com",
		"HTTPS://Receiver.Example.com:8443/a/b?c=d",
		"https://93.184.215.14/hook",
		"https://[2606:4700::1]:443/hook",
		"http://localhost:8080/x", // syntax only: the dial-time guard judges addresses
		"https://example.com/hook#frag",
	}
	for _, raw := range ok {
		u, err := ValidateURL(raw)
		if err != nil {
			t.Errorf("ValidateURL(%q): %v", raw, err)
			continue
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Errorf("ValidateURL(%q) scheme %q", raw, u.Scheme)
		}
	}
	bad := []string{
		"",
		"ftp://example.com/file",
		"javascript:alert(1)",
		"file:///etc/passwd",
		"gopher://example.com/",
		"ws://example.com/socket",
		"data:text/plain,hi",
		"mailto:a@example.com",
		"https://",
		"https:///path",
		"http://:8080/",
		"https:example.com/hook", // opaque, no host
		"/relative/path",
		"relative/path",
		"//example.com/hook", // scheme-relative
		"example.com/hook",
		"https://user@example.com/",
		"https://user:pass@example.com/",
		"https://:pass@example.com/",
		"https://example.com:0/",
		"https://example.com:65536/",
		"https://example.com:99999999999/",
		"https://example.com:/",
		"https://exa mple.com/",
		"https://example.com/\x00",
		"https://example.com/\n",
		" https://example.com/",
		"https://" + strings.Repeat("a", MaxURLLength) + ".com/",
	}
	for _, raw := range bad {
		if u, err := ValidateURL(raw); err == nil {
			t.Errorf("ValidateURL(%q) = %v, want an error", raw, u)
		}
	}
}

// The Control hook is wired into the client's dialer: simulate a bypass of the resolver-level
// check by redirecting an allowed (public, never contacted) address to the loopback server
// inside the dial chain; the socket-level hook must still refuse it.
func TestControlGuardWired(t *testing.T) {
	srv := newCountingServer(t, nil)
	loop := srv.Listener.Addr().String()
	redirect := func(next dialFunc) dialFunc {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			return next(ctx, network, loop)
		}
	}
	c := NewClient(Options{})
	c.Transport = newTransport(Options{}, redirect)
	wantForbidden(t, c, "http://93.184.215.14/hook")

	c.Transport = newTransport(Options{AllowPrivate: true}, redirect)
	resp, err := get(t, c, "http://93.184.215.14/hook")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want only the permitted one", n)
	}
}
