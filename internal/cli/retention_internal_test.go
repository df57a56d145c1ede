package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// parseServe parses args as the command line does and returns the serve flags.
func parseServe(t *testing.T, args ...string) ServeCmd {
	t.Helper()
	var c cliArgs
	p, err := kong.New(&c, kong.Name("chathooks"), kong.Vars{"version": "test"},
		kong.Exit(func(code int) { t.Fatalf("exit %d parsing %q", code, args) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c.Serve
}

// setRetentionEnv sets CHATHOOKS_DELIVERY_RETENTION to v, or unsets it for "", until the
// test ends.
func setRetentionEnv(t *testing.T, v string) {
	t.Setenv("CHATHOOKS_DELIVERY_RETENTION", v)
	if v == "" {
		os.Unsetenv("CHATHOOKS_DELIVERY_RETENTION")
	}
}

// --delivery-retention: 720h by default, a Go duration from the flag or
// CHATHOOKS_DELIVERY_RETENTION (the flag wins), 0 to keep everything, carried into the app
// configuration; a negative value is refused before anything starts.
func TestDeliveryRetentionFlag(t *testing.T) { // not parallel: it sets the environment
	for _, c := range []struct {
		env  string
		args []string
		want time.Duration
	}{
		{"", []string{"serve"}, 720 * time.Hour},
		{"", []string{"serve", "--delivery-retention", "48h"}, 48 * time.Hour},
		{"", []string{"--delivery-retention=0"}, 0},
		{"2h30m", []string{"serve"}, 150 * time.Minute},
		{"2h", []string{"serve", "--delivery-retention=90m"}, 90 * time.Minute},
	} {
		setRetentionEnv(t, c.env)
		s := parseServe(t, c.args...)
		if s.DeliveryRetention != c.want || s.Config().DeliveryRetention != c.want {
			t.Errorf("env %q, args %q: %s (config %s), want %s", c.env, c.args, s.DeliveryRetention, s.Config().DeliveryRetention, c.want)
		}
		if err := s.validate(); err != nil {
			t.Errorf("env %q, args %q: %v", c.env, c.args, err)
		}
	}
	setRetentionEnv(t, "")
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--delivery-retention=-1h"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "--delivery-retention must not be negative") || strings.Contains(out.String(), "running on") {
		t.Fatalf("a negative retention: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	setRetentionEnv(t, "soon")
	if code := Run(context.Background(), []string{"serve", "--data", t.TempDir()}, &out, &errb); code != 2 {
		t.Fatalf("a retention that is not a duration: exit %d", code)
	}
}
