// Command natsd runs a single nats-server with JetStream (the one `make run` embeds) as a
// process of its own, storing in --store: the chaos run (pkg/chaos) restarts it and kills it
// like any other part of the pipeline. SIGTERM shuts it down cleanly. Production runs the
// official nats-server with deploy/'s configuration instead.
package main

import (
	"context"
	"os"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("natsd", os.Args[1:], os.Stderr, [][]config.Setting{{
		{Name: "store", Env: "NATSD_STORE", Default: ".data/nats", Usage: "JetStream store directory"},
		{Name: "host", Env: "NATSD_HOST", Default: "127.0.0.1", Usage: "address to listen on"},
		{Name: "port", Env: "NATSD_PORT", Kind: config.Int, Default: "4222", Min: 1, Usage: "client port"},
	}}, run))
}

func run(ctx context.Context, env service.Env) error {
	ns, err := bus.RunEmbedded(env.Values.String("store"), env.Values.String("host"), env.Values.Int("port"))
	if err != nil {
		return err
	}
	env.Logger.Info("nats-server listening", "url", ns.ClientURL())
	env.Ready(func(context.Context) error { return nil })
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}
