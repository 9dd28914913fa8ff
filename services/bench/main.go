// Command bench is the end-to-end load harness of `make bench`: the services' code against an
// embedded NATS and a local clickhouse-server, each scenario beside a bare baseline; it prints a
// table and writes a JSON report. See pkg/bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/chargeline/chargeline/pkg/bench"
	"github.com/chargeline/chargeline/pkg/config"
)

func main() {
	// The harness re-executes itself to run NATS and the simulated provider API in a child.
	if len(os.Args) > 1 && os.Args[1] == bench.InfraArg {
		os.Exit(bench.ServeInfra(os.Stdin, os.Stdout))
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	v, err := config.Load(fs, os.Args[1:], os.Getenv, bench.Settings())
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	cfg := bench.ConfigFrom(v)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	cfg.InfraCommand = []string{exe, bench.InfraArg}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = bench.Run(ctx, cfg, os.Stdout)
	switch {
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}
