// Command chargectl is the operator's CLI for a chargeline pipeline: stream, consumer and
// checkpoint status, checkpoint show/set/reset, DLQ list/show/replay, ClickHouse migrations,
// backfills and the per-day reconciliation. `chargectl help` lists the commands and exit codes;
// the commands live in pkg/ops.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/providers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ops.Main(ctx, os.Args[1:], ops.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Providers: providers.All(),
	})
	stop()
	os.Exit(code)
}
