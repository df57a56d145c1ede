package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chathooks/chathooks/internal/cli"
)

// The start says which admin token is in force and where it came from, through the three
// steps that used to surprise: generated, replaced by --admin-token, kept without the flag.
// --help states the rule.
func TestStartSaysWhichAdminTokenIsInForce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	status := func(out, tok string) int {
		t.Helper()
		base := regexp.MustCompile(`running on (http://\S+) `).FindStringSubmatch(out)[1]
		req, _ := http.NewRequest("GET", base+"/api/v1/rooms", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	out, _, stop := runServe(t, dir, "--addr", "127.0.0.1:0")
	generated := regexp.MustCompile(`cht_\S+`).FindString(out.String())
	if generated == "" || !strings.Contains(out.String(), "Admin token in force: generated now") || status(out.String(), generated) != 200 {
		t.Fatalf("first start:\n%s", out)
	}
	stop()

	out, errs, stop := runServe(t, dir, "--addr", "127.0.0.1:0", "--admin-token", "chosen")
	if !strings.Contains(out.String(), "Admin token in force: the one given by --admin-token") || !strings.Contains(out.String(), "REPLACED") ||
		!strings.Contains(errs.String(), "replaced the stored admin token") || strings.Contains(errs.String(), "chosen") {
		t.Fatalf("start with --admin-token:\n%s\n%s", out, errs)
	}
	if status(out.String(), "chosen") != 200 || status(out.String(), generated) != 401 {
		t.Fatal("--admin-token is not the token in force")
	}
	stop()

	out, _, stop = runServe(t, dir, "--addr", "127.0.0.1:0")
	if !strings.Contains(out.String(), "Admin token in force: the one stored in the database") || strings.Contains(out.String(), "cht_") {
		t.Fatalf("start without the flag:\n%s", out)
	}
	if status(out.String(), "chosen") != 200 {
		t.Fatal("the last --admin-token is not kept")
	}
	if code := stop(); code != 0 {
		t.Fatal("exit", code)
	}

	var help bytes.Buffer
	cli.Run(context.Background(), []string{"--help"}, &help, &help)
	h := strings.Join(strings.Fields(help.String()), " ")
	if !strings.Contains(h, "replaces any earlier token for good") || !strings.Contains(h, "the stored token stays in force") {
		t.Fatalf("--help does not state the admin token rule:\n%s", help.String())
	}
}
