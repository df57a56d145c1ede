package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HealthcheckCmd asks a server on this machine whether it is ready. Container images have
// no curl; this is their HEALTHCHECK.
type HealthcheckCmd struct {
	Addr    string        `default:"127.0.0.1:8080" env:"CHATHOOKS_ADDR" help:"The server's listen address, as given to serve (a wildcard host such as :8080 or 0.0.0.0:8080 is checked on loopback)."`
	URL     string        `help:"Check this URL instead of http://<addr>/readyz."`
	Timeout time.Duration `default:"5s" help:"How long to wait for the answer."`
}

// Run exits 0 when the server answers 200, 1 otherwise.
func (h HealthcheckCmd) Run(e *env) error {
	u := h.URL
	if u == "" {
		var err error
		if u, err = readyURL(h.Addr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(e.stdout, "ready: %s\n", u)
	return nil
}

// readyURL is http://<addr>/readyz with a wildcard or empty host replaced by loopback.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
