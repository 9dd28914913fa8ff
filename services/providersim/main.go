// Command providersim serves every provider API chargeline polls, from deterministic synthetic
// data, with fault injection: /<provider>/… is that provider's API, /truth its ground truth.
package main

import (
	"context"
	"os"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("providersim", os.Args[1:], os.Stderr, [][]config.Setting{simserver.Settings()}, run))
}

func run(ctx context.Context, env service.Env) error {
	srv, err := simserver.New(simserver.ConfigFrom(env.Values), env.Logger)
	if err != nil {
		return err
	}
	env.Ready(func(context.Context) error { return nil })
	return srv.Run(ctx)
}
