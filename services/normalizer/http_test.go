package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/service/servicetest"
)

// TestHealthReadinessAndMetrics runs the normalizer's real wiring on a real NATS: /readyz is
// 503 before run and while NATS is down, 200 otherwise; /metrics reports every provider's
// consumer lag from consumer info (N raw records published while normalizer-bemo is paused
// are N pending, 0 ack pending), then, once it resumes, the records mapped and dead-lettered.
func TestHealthReadinessAndMetrics(t *testing.T) {
	ns := natstest.Start(t)
	svc := servicetest.Start(t, servicetest.Config{
		Name: "normalizer", Settings: pipeline.NormalizerSettings(), Run: pipeline.ServeNormalizer,
		Args: []string{"--nats-url=" + ns.URL},
	})
	if svc.ReadyzBeforeRun != http.StatusServiceUnavailable {
		t.Errorf("/readyz before run answered %d, want 503", svc.ReadyzBeforeRun)
	}
	if code, _ := svc.Get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d, want 200", code)
	}
	svc.WaitStatus(t, "/readyz", http.StatusOK, time.Minute)

	value := func(m servicetest.Metrics, name string, labels map[string]string) float64 {
		v, _ := m.Value(name, labels)
		return v
	}
	consumer := func(provider string) map[string]string {
		return map[string]string{"stream": bus.StreamRaw, "consumer": normalize.ConsumerName(provider)}
	}
	providers := []string{"bemo", "inpost", "mews", "pip", "plugsurfing"}
	svc.Wait(t, time.Minute, func() bool {
		m := svc.Metrics(t)
		for _, p := range providers {
			if value(m, "chargeline_normalizer_consumer_info_up", consumer(p)) != 1 {
				return false
			}
		}
		return true
	}, func() string { return "some provider's consumer never appeared in /metrics" })

	if _, err := ns.JS.PauseConsumer(t.Context(), bus.StreamRaw, normalize.ConsumerName("bemo"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// One Be-Mo session as the API documents it, and records no mapping accepts.
	good, err := os.ReadFile("../../pkg/providers/bemo/testdata/getsessionsbyaccount_200_data0.json")
	if err != nil {
		t.Fatal(err)
	}
	const bad = 4
	payloads := [][]byte{good}
	for i := range bad {
		payloads = append(payloads, fmt.Appendf(nil, `{"sessionId": %d}`, i))
	}
	for i, data := range payloads {
		r := events.Raw{Provider: "bemo", Resource: "sessions", Scope: "acc-1", RecordID: fmt.Sprint(i), FetchedAt: time.Now(), Data: data}
		r.ID = events.RawID(r.Provider, r.Resource, r.RecordID, r.Data)
		if _, err := ns.JS.PublishMsg(t.Context(), events.RawMsg(r)); err != nil {
			t.Fatal(err)
		}
	}
	m := svc.Metrics(t)
	if got := value(m, "chargeline_normalizer_consumer_lag_messages", consumer("bemo")); got != float64(len(payloads)) {
		t.Errorf("lag of normalizer-bemo = %v, want %d", got, len(payloads))
	}
	if got := value(m, "chargeline_normalizer_consumer_ack_pending_messages", consumer("bemo")); got != 0 {
		t.Errorf("ack pending of normalizer-bemo = %v, want 0", got)
	}
	if got := value(m, "chargeline_normalizer_consumer_lag_messages", consumer("inpost")); got != 0 {
		t.Errorf("lag of normalizer-inpost = %v, want 0", got)
	}

	if _, err := ns.JS.ResumeConsumer(t.Context(), bus.StreamRaw, normalize.ConsumerName("bemo")); err != nil {
		t.Fatal(err)
	}
	bemo := map[string]string{"provider": "bemo"}
	svc.Wait(t, time.Minute, func() bool {
		m = svc.Metrics(t)
		return value(m, "chargeline_normalizer_records_processed_total", bemo) == 1 &&
			value(m, "chargeline_normalizer_dlq_total", bemo) == bad &&
			value(m, "chargeline_normalizer_consumer_lag_messages", consumer("bemo")) == 0 &&
			value(m, "chargeline_normalizer_consumer_ack_pending_messages", consumer("bemo")) == 0
	}, func() string {
		return fmt.Sprintf("processed %v, dead-lettered %v, want 1 and %d, all acknowledged",
			value(m, "chargeline_normalizer_records_processed_total", bemo), value(m, "chargeline_normalizer_dlq_total", bemo), bad)
	})
	for _, name := range []string{
		"chargeline_normalizer_records_processed_total",
		"chargeline_normalizer_dlq_total",
		"chargeline_normalizer_map_duration_seconds",
		"chargeline_normalizer_consumer_lag_messages",
		"chargeline_normalizer_consumer_ack_pending_messages",
		"chargeline_normalizer_consumer_redelivered_messages",
		"chargeline_normalizer_consumer_info_up",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}

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
