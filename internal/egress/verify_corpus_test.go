package egress_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/delivery"
	"github.com/chathooks/chathooks/internal/egress"
)

// TestSSRFCorpusRefusedForVerification: the RBM verification handshake, run through the
// server's egress client as the delivery engine builds it, refuses every destination of the
// corpus (literal IPs, inet_aton forms, names resolving to forbidden addresses, a name
// resolving to the loopback receiver itself) and never reaches the receiver.
func TestSSRFCorpusRefusedForVerification(t *testing.T) {
	var hits atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer recv.Close()
	port := recv.URL[strings.LastIndexByte(recv.URL, ':')+1:]
	table := map[string][]netip.Addr{"self.test": {netip.MustParseAddr("127.0.0.1")}}
	for name, addrs := range egress.SSRFNames {
		table[name] = addrs
	}
	for form, ip := range egress.INetAtonForms {
		table[form] = []netip.Addr{netip.MustParseAddr(ip)}
	}
	v := delivery.Verifier{Client: egress.NewClient(egress.Options{Resolver: egress.FakeDNS(t, table)})}
	hosts := append([]string{"self.test:" + port, "127.0.0.1:" + port}, egress.SSRFLiterals...)
	for name := range egress.SSRFNames {
		hosts = append(hosts, name)
	}
	for form := range egress.INetAtonForms {
		hosts = append(hosts, form)
	}
	for _, h := range hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := v.Verify(ctx, chat.Endpoint{URL: "http://" + h + "/rbm", Format: chat.FormatRBM}, "client-token")
		cancel()
		if err == nil {
			t.Errorf("%s: verification succeeded", h)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d verification requests", n)
	}
}
