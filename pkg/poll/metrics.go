package poll

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	fetched        *prometheus.CounterVec
	published      *prometheus.CounterVec
	errors         *prometheus.CounterVec
	providerErrors *prometheus.CounterVec
	checkpointTime *prometheus.GaugeVec
	checkpointAge  *checkpointAges
	succeeded      *prometheus.GaugeVec
	gaps           *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, now func() time.Time) *metrics {
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
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_poller_provider_errors_total",
			Help: "Error answers of the provider API (every failed attempt, retried or not) by HTTP status and the provider's error code (code=\"none\" when it sent none).",
		}, []string{"provider", "status", "code"}),
		checkpointTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chargeline_poller_checkpoint_timestamp_seconds", Help: "When a scope's checkpoint last advanced (Unix time); age = time() - this.",
		}, []string{"provider", "scope"}),
		checkpointAge: newCheckpointAges(now),
		succeeded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chargeline_poller_poll_success_timestamp_seconds", Help: "When a poll of the scope last ended caught up without error (Unix time).",
		}, []string{"provider", "scope"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_poller_gaps_total",
			Help: "Provider data the poller knows of and could not put on RAW, recorded in the poller_gaps bucket, by kind (tie: more records share a cursor value than a page holds; oversized: a record above the bus's message size).",
		}, []string{"provider", "kind"}),
	}
	if reg == nil {
		return m
	}
	// Several schedulers (one per provider) may share a registry: reuse what is there.
	m.fetched = register(reg, m.fetched)
	m.published = register(reg, m.published)
	m.errors = register(reg, m.errors)
	m.providerErrors = register(reg, m.providerErrors)
	m.checkpointTime = register(reg, m.checkpointTime)
	m.checkpointAge = register(reg, m.checkpointAge)
	m.succeeded = register(reg, m.succeeded)
	m.gaps = register(reg, m.gaps)
	return m
}

// checkpointAges reports chargeline_poller_checkpoint_age_seconds{provider, scope}: how long
// ago each scope's checkpoint was last written, computed at scrape time. A scope appears once
// this process has read its checkpoint (the age then counts from the KV entry's write time).
type checkpointAges struct {
	now     func() time.Time
	desc    *prometheus.Desc
	mu      sync.Mutex
	written map[[2]string]time.Time // {provider, scope}
}

func newCheckpointAges(now func() time.Time) *checkpointAges {
	return &checkpointAges{
		now: now, written: map[[2]string]time.Time{},
		desc: prometheus.NewDesc("chargeline_poller_checkpoint_age_seconds",
			"Time since the scope's checkpoint was last written (by any replica, as far as this one knows), at scrape time.",
			[]string{"provider", "scope"}, nil),
	}
}

// set records a write at t, unless a later one is known already.
func (c *checkpointAges) set(provider, scope string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{provider, scope}
	if t.After(c.written[k]) {
		c.written[k] = t
	}
}

func (c *checkpointAges) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *checkpointAges) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, t := range c.written {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, max(now.Sub(t).Seconds(), 0), k[0], k[1])
	}
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
