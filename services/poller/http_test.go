package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/service/servicetest"
)

// TestHealthReadinessAndMetrics runs the poller's real wiring against the Be-Mo simulator
// (answering one request in 25 with 429) and a real NATS: /healthz always 200, /readyz 503
// before run and while NATS is down, 200 once provisioned; /metrics counts what was published,
// the provider's answers by status and the checkpoint's age.
func TestHealthReadinessAndMetrics(t *testing.T) {
	ns := natstest.Start(t)
	p := bemo.Provider{}
	sims, err := simserver.New(simserver.Config{
		Options:   sim.Options{Seed: 1, Records: 40, Faults: sim.Faults{TooManyRequestsEvery: 25}},
		Providers: []providers.Provider{p},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sims.Handler())
	defer hs.Close()
	svc := servicetest.Start(t, servicetest.Config{
		Name: "poller", Settings: pipeline.PollerSettings(), Run: pipeline.ServePoller,
		Args: []string{"--nats-url=" + ns.URL, "--provider=bemo", "--poll-interval=1h"},
		Env:  p.SimEnv(simserver.BaseURL(hs.Listener.Addr().String(), "bemo")),
	})
	if svc.ReadyzBeforeRun != http.StatusServiceUnavailable {
		t.Errorf("/readyz before run answered %d, want 503", svc.ReadyzBeforeRun)
	}
	if code, _ := svc.Get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d, want 200", code)
	}
	svc.WaitStatus(t, "/readyz", http.StatusOK, time.Minute)

	// One poll of every scope (the interval is an hour): wait until each one has succeeded.
	want := sims.Truth()["bemo"].Records
	var m servicetest.Metrics
	svc.Wait(t, time.Minute, func() bool {
		m = svc.Metrics(t)
		published, _ := m.Value("chargeline_poller_records_published_total", map[string]string{"provider": "bemo"})
		return int(published) == want && len(m["chargeline_poller_poll_success_timestamp_seconds"].GetMetric()) > 0
	}, func() string { return "published records never reached the simulator's count" })

	for _, name := range []string{
		"chargeline_poller_records_fetched_total",
		"chargeline_poller_records_published_total",
		"chargeline_poller_requests_total",
		"chargeline_poller_request_duration_seconds",
		"chargeline_poller_provider_errors_total",
		"chargeline_poller_checkpoint_age_seconds",
		"chargeline_poller_checkpoint_timestamp_seconds",
		"chargeline_poller_poll_success_timestamp_seconds",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if n, _ := m.Value("chargeline_poller_requests_total", map[string]string{"provider": "bemo", "status": "429"}); n < 1 {
		t.Errorf("requests_total{status=429} = %v, want ≥ 1 (the simulator refused one request in 25)", n)
	}
	if n, _ := m.Value("chargeline_poller_provider_errors_total", map[string]string{"provider": "bemo", "status": "429"}); n < 1 {
		t.Errorf("provider_errors_total{status=429} = %v, want ≥ 1", n)
	}
	if n, _ := m.Value("chargeline_poller_records_fetched_total", map[string]string{"provider": "bemo"}); int(n) != want {
		t.Errorf("records_fetched_total = %v, want %d", n, want)
	}
	st, err := ns.JS.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; int(got) != want {
		t.Errorf("RAW holds %d messages, the metric says %d were published", got, want)
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
