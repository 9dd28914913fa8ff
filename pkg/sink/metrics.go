package sink

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeline/chargeline/pkg/bus"
)

const (
	labelTable = "table"
	labelKind  = "kind"
)

type metrics struct {
	rows       *prometheus.CounterVec   // {table}
	duration   *prometheus.HistogramVec // {table}
	batchRows  *prometheus.HistogramVec // {table}
	batchBytes *prometheus.HistogramVec // {table}
	errors     *prometheus.CounterVec   // {table, kind}
	dlq        *prometheus.CounterVec   // {table}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_sink_rows_inserted_total",
			Help: "Rows inserted into ClickHouse (a redelivered message counts again).",
		}, []string{labelTable}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chargeline_sink_insert_duration_seconds",
			Help:    "Duration of one batch insert, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{labelTable}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chargeline_sink_batch_rows",
			Help:    "Rows per successful insert (a batch, or part of one split to isolate a refused row).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 … 65536
		}, []string{labelTable}),
		batchBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chargeline_sink_batch_bytes",
			Help:    "Message bytes (body and headers) per successful insert.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9), // 1 KiB … 64 MiB
		}, []string{labelTable}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_sink_insert_errors_total",
			Help: "Failed inserts and undecodable messages by kind: outage (retried), refused (row isolated), decode (dead-lettered).",
		}, []string{labelTable, labelKind}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_sink_dlq_total",
			Help: "Messages sent to the DLQ stream (dlq.sink.<provider>).",
		}, []string{labelTable}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.rows, m.duration, m.batchRows, m.batchBytes, m.errors, m.dlq} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("sink: register metrics"), err)
	}
	return m, nil
}

// Consumers names the sink's durable consumers (cfg's defaults applied), for
// bus.NewLagCollector: chargeline_sink_consumer_*_messages{stream, consumer}.
func (c Config) Consumers() []bus.ConsumerRef {
	c.setDefaults()
	return []bus.ConsumerRef{
		{Stream: bus.StreamEvents, Consumer: c.EventsConsumer},
		{Stream: bus.StreamRaw, Consumer: c.RawConsumer},
	}
}
