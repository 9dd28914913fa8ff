package sink

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	labelTable    = "table"
	labelKind     = "kind"
	labelConsumer = "consumer"
)

type metrics struct {
	rows     *prometheus.CounterVec   // {table}
	duration *prometheus.HistogramVec // {table}
	errors   *prometheus.CounterVec   // {table, kind}
	dlq      *prometheus.CounterVec   // {table}
	pending  *prometheus.GaugeVec     // {consumer}
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
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_sink_insert_errors_total",
			Help: "Failed inserts and undecodable messages by kind: outage (retried), refused (row isolated), decode (dead-lettered).",
		}, []string{labelTable, labelKind}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeline_sink_dlq_total",
			Help: "Messages sent to the DLQ stream (dlq.sink.<provider>).",
		}, []string{labelTable}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chargeline_sink_consumer_lag_messages",
			Help: "Messages in the stream not yet delivered to the sink's consumer, as of the last fetch.",
		}, []string{labelConsumer}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.rows, m.duration, m.errors, m.dlq, m.pending} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("sink: register metrics"), err)
	}
	return m, nil
}
