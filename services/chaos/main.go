// Command chaos is the fault-injection run (`make chaos`): it runs the whole pipeline as
// separate processes, kills and restarts them, stops ClickHouse, restarts NATS, makes the
// provider simulators misbehave and injects poison records, then compares ClickHouse with the
// simulators' ground truth and prints a table per scenario. It exits 1 when a scenario fails.
// See pkg/chaos.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/chargeline/chargeline/pkg/chaos"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("chaos", os.Args[1:], os.Stderr, [][]config.Setting{chaos.Settings()}, run))
}

func run(ctx context.Context, env service.Env) error {
	cfg, err := chaos.ConfigFrom(env.Values)
	if err != nil {
		return err
	}
	cfg.Out = os.Stdout
	results, err := chaos.Run(ctx, cfg)
	if len(results) > 0 {
		chaos.WriteDetails(os.Stdout, results)
		fmt.Println()
		chaos.WriteTable(os.Stdout, results)
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if !r.OK() {
			return errors.New("chaos: a scenario failed; see FAILURE lines above")
		}
	}
	return nil
}
