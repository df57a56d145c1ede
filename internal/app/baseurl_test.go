package app

import "testing"

// Only a plain host[:port] from a request's Host header may become the base of webhook URLs.
func TestValidHostPort(t *testing.T) {
	for hp, want := range map[string]bool{
		"chat.example.com": true, "chat.example.com:8080": true, "10.0.0.5:8282": true, "[2001:db8::1]:8080": true,
		"[2001:db8::1]": true, "localhost:8080": true, "chat.example.com.": true,
		"": false, "[::]:8080": false, "0.0.0.0:8080": false, "::1": false, "[::1": false, "evil.com/x": false,
		"user@evil.com": false, "evil.com:0": false, "evil.com:99999": false, "evil.com:http": false, "-bad.com": false,
		"a..b": false, "évil.com": false, "evil.com?x": false, "evil.com#x": false, "[fe80::1%25eth0]:80": false,
	} {
		if got := validHostPort(hp); got != want {
			t.Errorf("validHostPort(%q) = %v, want %v", hp, got, want)
		}
	}
}
