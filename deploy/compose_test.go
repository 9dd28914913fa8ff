package deploy

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// probePath is where deploy/Dockerfile puts the healthcheck binary (deploy/probe).
const probePath = "/usr/local/bin/probe"

// TestComposeStartsInOrder checks what makes a first `docker compose up` start without crash
// loops: NATS and ClickHouse have healthchecks on their own health endpoints, every chargeline
// service one on its /readyz, and every dependency waits for a healthy service.
func TestComposeStartsInOrder(t *testing.T) {
	p := loadCompose(t)

	checkURL := func(name string, hc *types.HealthCheckConfig, wantPort, wantPath string) {
		t.Helper()
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
			t.Errorf("service %s: healthcheck %+v, want an exec-form (CMD) test", name, hc)
			return
		}
		if hc.Interval == nil || hc.Retries == nil || *hc.Retries == 0 || hc.StartPeriod == nil {
			t.Errorf("service %s: healthcheck needs interval, retries and start_period: %+v", name, hc)
		}
		u, err := url.Parse(hc.Test[len(hc.Test)-1])
		if err != nil || u.Port() != wantPort || u.Path != wantPath {
			t.Errorf("service %s: healthcheck %v, want it to GET :%s%s", name, hc.Test, wantPort, wantPath)
		}
	}

	nats := p.Services["nats"]
	if !slices.Contains(nats.Command, "--http_port=8222") {
		t.Errorf("nats: command %v does not serve monitoring on 8222 (--http_port=8222)", nats.Command)
	}
	checkURL("nats", nats.HealthCheck, "8222", "/healthz")
	checkURL("clickhouse", p.Services["clickhouse"].HealthCheck, "8123", "/ping")

	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		// The images are distroless: only the probe binary can run the check.
		if hc := svc.HealthCheck; hc == nil || len(hc.Test) != 3 || hc.Test[1] != probePath {
			t.Errorf("service %s: healthcheck %+v, want [CMD %s http://127.0.0.1:<HTTP_ADDR port>/readyz]", name, svc.HealthCheck, probePath)
			continue
		}
		addr := svc.Environment["HTTP_ADDR"]
		if addr == nil {
			t.Errorf("service %s does not set HTTP_ADDR: its healthcheck relies on the default port", name)
			continue
		}
		_, port, err := net.SplitHostPort(*addr)
		if err != nil {
			t.Errorf("service %s: HTTP_ADDR %q: %v", name, *addr, err)
			continue
		}
		checkURL(name, svc.HealthCheck, port, "/readyz")
	}

	// What each service needs before it can become ready (each exits 1 without it).
	needs := map[string][]string{
		"normalizer":  {"nats"},
		"sink":        {"nats", "clickhouse"},
		"providersim": nil,
	}
	for _, name := range providerNames() {
		needs["poller-"+name] = []string{"nats", "providersim"}
	}
	for name, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("service %s: depends_on %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
			if hc := p.Services[dep].HealthCheck; hc == nil || hc.Disable {
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		if want, ok := needs[name]; ok {
			for _, dep := range want {
				if _, ok := svc.DependsOn[dep]; !ok {
					t.Errorf("service %s does not wait for %s (depends_on %v)", name, dep, svc.DependsOn)
				}
			}
		} else if svc.Build != nil {
			t.Errorf("service %s: this test does not know what it needs; teach it", name)
		}
	}
}

// TestProbe runs the healthcheck binary of the images against a server answering 200, one
// answering 503, a closed port, and a real service's /readyz.
func TestProbe(t *testing.T) {
	bin := buildPackage(t, "./deploy/probe")
	exitCode := func(url string) (int, string) {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), bin, url).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &ee):
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("probe %s: %v", url, err)
		return 0, ""
	}

	// Atomic: the handler runs in the server's goroutine, and the race detector cannot see
	// that the probe process ordered it after the test's write.
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	if code, out := exitCode(srv.URL + "/readyz"); code != 0 {
		t.Errorf("probe of a 200 answer exits %d, want 0\n%s", code, out)
	}
	status.Store(http.StatusServiceUnavailable)
	if code, out := exitCode(srv.URL + "/readyz"); code != 1 || !strings.Contains(out, "503") {
		t.Errorf("probe of a 503 answer exits %d, want 1 naming the status\n%s", code, out)
	}
	if code, _ := exitCode("http://" + closedPort(t) + "/readyz"); code != 1 {
		t.Errorf("probe of a closed port exits %d, want 1", code)
	}

	// A real service (providersim needs neither NATS nor ClickHouse): unhealthy until it
	// listens, then healthy.
	sim := buildService(t, "providersim")
	addr := closedPort(t)
	cmd := exec.CommandContext(t.Context(), sim)
	cmd.Env = []string{"HTTP_ADDR=" + addr, "PROVIDERSIM_ADDR=127.0.0.1:0", "PROVIDERSIM_RECORDS=10"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, "providersim's /readyz to pass the probe", func() bool {
		code, _ := exitCode("http://" + addr + "/readyz")
		return code == 0
	})
}

// waitFor polls cond until it holds; the minute is a guard against a hang, not a measurement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
