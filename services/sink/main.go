// Command sink consumes canonical events (EVENTS) and raw records (RAW) from NATS JetStream and
// inserts them into ClickHouse in batches, acknowledging each message only after its row is
// inserted. It applies the ClickHouse migrations at start. See pkg/sink.
package main

import (
	"os"

	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("sink", os.Args[1:], os.Stderr, pipeline.SinkSettings(), pipeline.ServeSink))
}
