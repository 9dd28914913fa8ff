// Command poller polls one provider's API and publishes every record, unchanged, to
// raw.<provider>.<resource> on JetStream, with a checkpoint and a lease per scope.
package main

import (
	"os"

	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("poller", os.Args[1:], os.Stderr, pipeline.PollerSettings(), pipeline.ServePoller))
}
