// Command chathooks is a self-hosted chat backend whose integration surface is webhooks.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chathooks/chathooks/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
