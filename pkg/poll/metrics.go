package poll

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	fetched        *prometheus.CounterVec
	published      *prometheus.CounterVec
	errors         *prometheus.CounterVec
	checkpointTime *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_poller_records_fetched_total", Help: "Provider records fetched.",
		}, []string{"provider", "resource"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_poller_records_published_total", Help: "Provider records published with a PubAck.",
		}, []string{"provider"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_poller_poll_errors_total", Help: "Polls of a scope that failed, by kind (auth, permanent, temporary).",
		}, []string{"provider", "kind"}),
		checkpointTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chargeline_poller_checkpoint_timestamp_seconds", Help: "When a scope's checkpoint last advanced (Unix time); age = time() - this.",
		}, []string{"provider", "scope"}),
	}
	if reg == nil {
		return m
	}
	// Several schedulers (one per provider) may share a registry: reuse what is there.
	m.fetched = register(reg, m.fetched)
	m.published = register(reg, m.published)
	m.errors = register(reg, m.errors)
	m.checkpointTime = register(reg, m.checkpointTime)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// Conflicting definitions are a programming error caught by the first test.
		panic(err)
	}
	return c
}
