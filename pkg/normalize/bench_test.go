package normalize_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
)

// BenchmarkNormalize measures records per second through one normalizer, from publishing to
// RAW until every event has been stored on EVENTS, on an in-memory embedded server.
func BenchmarkNormalize(b *testing.B) {
	for _, validate := range []bool{true, false} {
		b.Run(fmt.Sprintf("validate=%v", validate), func(b *testing.B) {
			srv := natstest.StartWith(b, bus.Topology{MemoryStorage: true})
			p := fakeProvider{name: "a", log: newCallLog()}
			n, err := normalize.New(normalize.Config{SchemaValidation: validate}, srv.JS, []providers.Provider{p}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			defer func() { cancel(); <-done }()
			stream, err := srv.JS.Stream(b.Context(), bus.StreamEvents)
			if err != nil {
				b.Fatal(err)
			}

			b.ResetTimer()
			for i := range b.N {
				if _, err := srv.JS.PublishMsgAsync(events.RawMsg(rawRecord(fmt.Sprintf(`{"id":"r%d","amount":"1.00"}`, i)))); err != nil {
					b.Fatal(err)
				}
			}
			<-srv.JS.PublishAsyncComplete()
			tick := time.NewTicker(5 * time.Millisecond) // polls the stream's count
			defer tick.Stop()
			for {
				info, err := stream.Info(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if info.State.Msgs >= uint64(b.N) {
					break
				}
				<-tick.C
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
