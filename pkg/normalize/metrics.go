package normalize

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/providers"
)

const labelProvider = "provider"

type metrics struct {
	processed   *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	mapDuration prometheus.Histogram
}

// newMetrics registers the normalizer's metrics on reg (nil: not registered). Registering twice
// on one registry (two normalizers in one process) reuses the first collectors.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_normalizer_records_processed_total",
			Help: "Raw records mapped and acknowledged after their events were stored.",
		}, []string{labelProvider}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_normalizer_dlq_total",
			Help: "Raw records sent to the DLQ (unmappable, panicking, or out of deliveries).",
		}, []string{labelProvider}),
		mapDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chargeline_normalizer_map_duration_seconds",
			Help:    "Time a provider's Map took for one raw record.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs … 0.26s
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.processed, err = register(reg, m.processed); err != nil {
		return nil, err
	}
	if m.deadLetters, err = register(reg, m.deadLetters); err != nil {
		return nil, err
	}
	if m.mapDuration, err = register(reg, m.mapDuration); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("normalize: register metrics: %w", err)
	}
	return c, nil
}

// NewLagCollector returns the collector of the consumer lag of the providers cfg selects among
// known: chargeline_normalizer_consumer_*_messages{stream="RAW", consumer="normalizer-<provider>"}.
func NewLagCollector(cfg Config, js jetstream.JetStream, known []providers.Provider) (*bus.LagCollector, error) {
	selected, err := cfg.selectProviders(known)
	if err != nil {
		return nil, err
	}
	var refs []bus.ConsumerRef
	for _, p := range selected {
		refs = append(refs, bus.ConsumerRef{Stream: bus.StreamRaw, Consumer: ConsumerName(p.Name())})
	}
	return bus.NewLagCollector(js, "normalizer", refs...), nil
}
