package bus

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerRef names a durable consumer on a stream.
type ConsumerRef struct {
	Stream   string
	Consumer string
}

// lagTimeout bounds one scrape's consumer info requests, so /metrics answers while NATS is down.
const lagTimeout = 2 * time.Second

// LagCollector is a prometheus.Collector that asks JetStream for the info of its durable
// consumers at every scrape and reports, labelled {stream, consumer}:
//
//	chargeline_<service>_consumer_lag_messages          NumPending: stored, not yet delivered
//	chargeline_<service>_consumer_ack_pending_messages  NumAckPending: delivered, not yet acknowledged
//	chargeline_<service>_consumer_redelivered_messages  NumRedelivered: delivered more than once, unacknowledged
//	chargeline_<service>_consumer_info_up               1 if the info request succeeded, else 0
//
// A consumer whose info cannot be read (not created yet, NATS unreachable) reports only
// info_up 0, never a stale count. Collect is safe for concurrent scrapes.
type LagCollector struct {
	js        jetstream.JetStream
	consumers []ConsumerRef
	timeout   time.Duration

	lag, ackPending, redelivered, up *prometheus.Desc
}

// NewLagCollector returns a collector for consumers, with metric names prefixed
// chargeline_<service>_. Register it on the service's registry.
func NewLagCollector(js jetstream.JetStream, service string, consumers ...ConsumerRef) *LagCollector {
	labels := []string{"stream", "consumer"}
	desc := func(what, help string) *prometheus.Desc {
		return prometheus.NewDesc("chargeline_"+service+"_"+what, help, labels, nil)
	}
	return &LagCollector{
		js: js, consumers: consumers, timeout: lagTimeout,
		lag:         desc("consumer_lag_messages", "Messages in the stream not yet delivered to the durable consumer (consumer info num_pending), read at scrape time."),
		ackPending:  desc("consumer_ack_pending_messages", "Messages delivered to the durable consumer and not yet acknowledged (num_ack_pending), read at scrape time."),
		redelivered: desc("consumer_redelivered_messages", "Unacknowledged messages delivered more than once (num_redelivered), read at scrape time."),
		up:          desc("consumer_info_up", "1 if the durable consumer's info could be read at this scrape, 0 if not (not created yet, NATS unreachable)."),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.ackPending
	ch <- c.redelivered
	ch <- c.up
}

// Collect implements prometheus.Collector: one consumer info request per consumer, in
// parallel, each bounded by the collector's timeout.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	// The registry passes no context to Collect: the timeout is this scrape's only bound.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, ref := range c.consumers {
		wg.Go(func() {
			info, err := c.info(ctx, ref)
			if err != nil {
				ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, ref.Stream, ref.Consumer)
				return
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, ref.Stream, ref.Consumer)
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(info.NumPending), ref.Stream, ref.Consumer)
			ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), ref.Stream, ref.Consumer)
			ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), ref.Stream, ref.Consumer)
		})
	}
	wg.Wait()
}

func (c *LagCollector) info(ctx context.Context, ref ConsumerRef) (*jetstream.ConsumerInfo, error) {
	// js.Consumer fetches the consumer's info from the server; CachedInfo is that answer.
	cons, err := c.js.Consumer(ctx, ref.Stream, ref.Consumer)
	if err != nil {
		return nil, err
	}
	return cons.CachedInfo(), nil
}
