package app

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// listensEverywhere reports whether the server listens on an unspecified address (":8080",
// "0.0.0.0:8080", "[::]:8080"), whose host is no address a client can use.
func (a *App) listensEverywhere() bool {
	host, _, err := net.SplitHostPort(a.Addr())
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return host == "" || (err == nil && ip.IsUnspecified())
}

// listenAddr is the listen address for messages: ":8080" rather than "[::]:8080".
func (a *App) listenAddr() string {
	if a.listensEverywhere() {
		return ":" + a.port()
	}
	return a.Addr()
}

func (a *App) port() string {
	_, port, _ := net.SplitHostPort(a.Addr())
	return port
}

// URL is the server's base URL as printed at start: --base-url, else the listen address,
// with 127.0.0.1 standing for an unspecified listen address (it is never printed as [::]).
func (a *App) URL() string {
	if a.cfg.BaseURL != "" {
		return a.cfg.BaseURL
	}
	if a.listensEverywhere() {
		return "http://127.0.0.1:" + a.port()
	}
	return "http://" + a.Addr()
}

// BaseURLNote says, when it matters, how webhook URLs are built without --base-url; "" when
// the base URL is configured or the listen address is itself usable.
func (a *App) BaseURLNote() string {
	if a.cfg.BaseURL != "" || !a.listensEverywhere() {
		return ""
	}
	return "built from the Host each API request was sent to (listening on every interface without --base-url); " +
		"set --base-url (CHATHOOKS_BASE_URL) to the public URL when clients reach this server through a proxy or another name"
}

// webhookBaseURL is the base of the dialect URLs shown on webhook create and regenerate:
// --base-url; else the listen address when it is a usable one; else the request's Host when
// it is a valid host[:port]; else this machine's host name and the listen port.
func (a *App) webhookBaseURL(requestHost string) string {
	if a.cfg.BaseURL != "" {
		return a.cfg.BaseURL
	}
	if !a.listensEverywhere() {
		return "http://" + a.Addr()
	}
	if validHostPort(requestHost) {
		return "http://" + requestHost
	}
	if h, err := os.Hostname(); err == nil && validHostName(h) {
		return "http://" + net.JoinHostPort(h, a.port())
	}
	return a.URL()
}

// validHostPort accepts a Host header naming a DNS name or a usable IP literal, with an
// optional port: nothing that could smuggle a path, user info or another scheme into a URL.
func validHostPort(hp string) bool {
	if hp == "" || len(hp) > 270 {
		return false
	}
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hp, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]")
		if !strings.HasSuffix(hp, "]") {
			return false
		}
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return false
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.IsUnspecified() && ip.Zone() == "" && (ip.Is4() || strings.Contains(hp, "["))
	}
	return validHostName(host)
}

// validHostName accepts a DNS name: dot-separated labels of letters, digits and hyphens.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
