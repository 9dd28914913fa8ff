package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/service/servicetest"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// TestHealthReadinessAndMetrics runs the sink's real wiring on a real NATS and ClickHouse:
// /readyz is 503 before run, while ClickHouse is down and while NATS is down, 200 otherwise;
// /metrics reports both durable consumers' lag from consumer info (N raw records published
// while sink-raw is paused are N pending, 0 ack pending), then the inserted rows and batch
// histograms once it resumes.
func TestHealthReadinessAndMetrics(t *testing.T) {
	ns := natstest.Start(t)
	ch := clickhousetest.Start(t)
	svc := servicetest.Start(t, servicetest.Config{
		Name: "sink", Settings: pipeline.SinkSettings(), Run: pipeline.ServeSink,
		Args: []string{"--nats-url=" + ns.URL, "--clickhouse-dsn=" + ch.DSN(), "--batch-age=20ms"},
	})
	if svc.ReadyzBeforeRun != http.StatusServiceUnavailable {
		t.Errorf("/readyz before run answered %d, want 503", svc.ReadyzBeforeRun)
	}
	if code, _ := svc.Get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d, want 200", code)
	}
	svc.WaitStatus(t, "/readyz", http.StatusOK, time.Minute)

	raw := map[string]string{"stream": bus.StreamRaw, "consumer": "sink-raw"}
	evs := map[string]string{"stream": bus.StreamEvents, "consumer": "sink-events"}
	value := func(m servicetest.Metrics, name string, labels map[string]string) float64 {
		v, _ := m.Value(name, labels)
		return v
	}
	svc.Wait(t, time.Minute, func() bool {
		m := svc.Metrics(t)
		return value(m, "chargeline_sink_consumer_info_up", raw) == 1 && value(m, "chargeline_sink_consumer_info_up", evs) == 1
	}, func() string { return "the sink's consumers never appeared in /metrics" })

	// Nothing consumes sink-raw while it is paused: what is published is pending.
	if _, err := ns.JS.PauseConsumer(t.Context(), bus.StreamRaw, "sink-raw", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := range n {
		data := fmt.Appendf(nil, `{"id":%d}`, i)
		r := events.Raw{Provider: "bemo", Resource: "sessions", Scope: "acc-1", RecordID: fmt.Sprint(i), FetchedAt: time.Now(), Data: data}
		r.ID = events.RawID(r.Provider, r.Resource, r.RecordID, r.Data)
		if _, err := ns.JS.PublishMsg(t.Context(), events.RawMsg(r)); err != nil {
			t.Fatal(err)
		}
	}
	m := svc.Metrics(t)
	if got := value(m, "chargeline_sink_consumer_lag_messages", raw); got != n {
		t.Errorf("lag of sink-raw = %v, want %d", got, n)
	}
	if got := value(m, "chargeline_sink_consumer_ack_pending_messages", raw); got != 0 {
		t.Errorf("ack pending of sink-raw = %v, want 0", got)
	}
	if got := value(m, "chargeline_sink_consumer_lag_messages", evs); got != 0 {
		t.Errorf("lag of sink-events = %v, want 0", got)
	}

	if _, err := ns.JS.ResumeConsumer(t.Context(), bus.StreamRaw, "sink-raw"); err != nil {
		t.Fatal(err)
	}
	svc.Wait(t, time.Minute, func() bool {
		m = svc.Metrics(t)
		return value(m, "chargeline_sink_rows_inserted_total", map[string]string{"table": "raw_records"}) == n &&
			value(m, "chargeline_sink_consumer_lag_messages", raw) == 0 &&
			value(m, "chargeline_sink_consumer_ack_pending_messages", raw) == 0
	}, func() string { return "the sink did not insert and acknowledge every raw record" })
	if got := ch.QueryUint64(t, "SELECT count() FROM chargeline.raw_records FINAL"); got != n {
		t.Errorf("raw_records holds %d rows, want %d", got, n)
	}
	for _, name := range []string{
		"chargeline_sink_rows_inserted_total",
		"chargeline_sink_insert_duration_seconds",
		"chargeline_sink_batch_rows",
		"chargeline_sink_batch_bytes",
		"chargeline_sink_consumer_lag_messages",
		"chargeline_sink_consumer_ack_pending_messages",
		"chargeline_sink_consumer_redelivered_messages",
		"chargeline_sink_consumer_info_up",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	ch.Stop()
	svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable, time.Minute)
	ch.Restart()
	svc.WaitStatus(t, "/readyz", http.StatusOK, time.Minute)

	ns.Shutdown()
	ns.WaitForShutdown()
	svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable, time.Minute)
	if code, _ := svc.Get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d with NATS down, want 200 (the process is alive)", code)
	}
	// A stop requested during the outage is a clean stop: JetStream keeps what is unacknowledged.
	if code := svc.Stop(t); code != service.ExitOK {
		t.Errorf("exit code %d after a stop during a NATS outage, want %d", code, service.ExitOK)
	}
}
