// Command natsd runs a nats-server with JetStream (the one `make run` embeds) as a process of
// its own, storing in --store: the chaos run (pkg/chaos) restarts it and kills it like any
// other part of the pipeline. With --cluster-port and --routes it is one server of a JetStream
// cluster (make chaos ARGS=--cluster runs three). SIGTERM shuts it down cleanly. Production
// runs the official nats-server with deploy/'s configuration instead.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("natsd", os.Args[1:], os.Stderr, [][]config.Setting{{
		{Name: "store", Env: "NATSD_STORE", Default: ".data/nats", Usage: "JetStream store directory"},
		{Name: "host", Env: "NATSD_HOST", Default: "127.0.0.1", Usage: "address to listen on"},
		{Name: "port", Env: "NATSD_PORT", Kind: config.Int, Default: "4222", Min: 1, Usage: "client port"},
		{Name: "server-name", Env: "NATSD_SERVER_NAME", Usage: "server name, unique in a cluster (default: generated)"},
		{Name: "cluster-name", Env: "NATSD_CLUSTER_NAME", Default: "chargeline", Usage: "cluster name (with --cluster-port)"},
		{Name: "cluster-port", Env: "NATSD_CLUSTER_PORT", Kind: config.Int, Default: "0", Usage: "route port; 0 = a single server"},
		{Name: "routes", Env: "NATSD_ROUTES", Kind: config.List, Usage: "the other servers' routes, nats://host:port, comma-separated"},
	}}, run))
}

func run(ctx context.Context, env service.Env) error {
	v := env.Values
	opts := &server.Options{
		ServerName: v.String("server-name"),
		Host:       v.String("host"),
		Port:       v.Int("port"),
		JetStream:  true,
		StoreDir:   v.String("store"),
		NoSigs:     true, // signals belong to main
		NoLog:      true,
	}
	if p := v.Int("cluster-port"); p > 0 {
		opts.Cluster = server.ClusterOpts{Name: v.String("cluster-name"), Host: v.String("host"), Port: p}
		opts.Routes = server.RoutesFromStr(strings.Join(v.List("routes"), ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("natsd: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("natsd: nats-server not ready after 30s")
	}
	env.Logger.Info("nats-server listening", "url", ns.ClientURL(), "server_name", ns.Name(), "cluster_port", v.Int("cluster-port"))
	env.Ready(func(context.Context) error { return nil })
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}
