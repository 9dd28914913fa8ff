// Package servicetest runs a service's real main wiring (service.Run with its run function) in
// a test, the way net/http/httptest runs a handler, and reads its /healthz, /readyz and
// /metrics endpoints.
package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
)

// Service is a service running in the test process.
type Service struct {
	// URL is the base URL of its HTTP endpoints, e.g. http://127.0.0.1:41234.
	URL string
	// ReadyzBeforeRun is the status /readyz answered after the endpoints started and before
	// the run function was called.
	ReadyzBeforeRun int

	cancel context.CancelFunc
	done   chan int
	code   int
	exited bool
	logs   *syncBuffer
}

// Config says which service to run and how.
type Config struct {
	Name     string                                   // the service's name, as its main passes it
	Settings [][]config.Setting                       // the service's settings, as its main passes them
	Run      func(context.Context, service.Env) error // the service's run function
	Args     []string                                 // flags
	Env      map[string]string                        // environment variables; nothing else is read
}

// Start runs the service through service.Run with cfg.Args plus --http-addr=127.0.0.1:0, only
// cfg.Env as environment, and text logs (shown if the test fails). It returns once the HTTP
// endpoints listen, having asked /readyz once before the run function starts. The service is
// stopped (its context cancelled, its exit awaited) when the test ends.
func Start(t testing.TB, cfg Config) *Service {
	t.Helper()
	name, settings, run := cfg.Name, cfg.Settings, cfg.Run
	s := &Service{done: make(chan int, 1), logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	s.cancel = cancel
	started := make(chan string, 1)
	wrapped := func(ctx context.Context, env service.Env) error {
		url := "http://" + env.HTTPAddr
		s.ReadyzBeforeRun, _ = status(ctx, url+"/readyz")
		started <- url
		return run(ctx, env)
	}
	args := append([]string{"--http-addr=127.0.0.1:0", "--log-format=text", "--log-level=debug"}, cfg.Args...)
	getenv := func(k string) string { return cfg.Env[k] }
	go func() {
		s.done <- service.Run(ctx, name, args, getenv, s.logs, settings, wrapped)
	}()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, s.logs.String())
		}
	})
	select {
	case s.URL = <-started:
	case code := <-s.done:
		s.code, s.exited = code, true
		t.Fatalf("servicetest: %s exited with code %d before running:\n%s", name, code, s.logs.String())
	}
	return s
}

// Stop cancels the service's context and returns its exit code, once it has exited.
func (s *Service) Stop(t testing.TB) int {
	t.Helper()
	s.cancel()
	if !s.exited {
		select {
		case s.code = <-s.done:
			s.exited = true
		case <-time.After(time.Minute):
			t.Fatalf("servicetest: the service did not stop within a minute of its context ending")
		}
	}
	return s.code
}

// Exited reports the exit code if the service has ended on its own.
func (s *Service) Exited() (int, bool) {
	if s.exited {
		return s.code, true
	}
	select {
	case s.code = <-s.done:
		s.exited = true
		return s.code, true
	default:
		return 0, false
	}
}

// Get fetches path and returns the status and body, failing the test if the request fails.
func (s *Service) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code, body, err := get(ctx, s.URL+path)
	if err != nil {
		t.Fatalf("servicetest: GET %s: %v", path, err)
	}
	return code, body
}

// WaitStatus polls path until it answers want, failing the test after timeout or if the
// service exits first.
func (s *Service) WaitStatus(t testing.TB, path string, want int, timeout time.Duration) {
	t.Helper()
	var code int
	var body string
	s.Wait(t, timeout, func() bool {
		code, body = s.Get(t, path)
		return code == want
	}, func() string { return fmt.Sprintf("GET %s answers %d %q, want %d", path, code, body, want) })
}

// Wait polls cond every 20ms until it holds, failing the test with what() after timeout or if
// the service exits first.
func (s *Service) Wait(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if code, ok := s.Exited(); ok {
			t.Fatalf("servicetest: service exited with code %d while waiting: %s", code, what())
		}
		if time.Now().After(deadline) {
			t.Fatalf("servicetest: after %s: %s", timeout, what())
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("servicetest: test ended while waiting: %s", what())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Metrics scrapes /metrics and returns the metric families by name.
func (s *Service) Metrics(t testing.TB) Metrics {
	t.Helper()
	code, body := s.Get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("servicetest: GET /metrics answers %d: %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("servicetest: parse /metrics: %v", err)
	}
	return fams
}

// Metrics are the families of one scrape by name.
type Metrics map[string]*dto.MetricFamily

// Value returns the value of the sample of family name whose labels include labels (a
// counter's or gauge's value, a histogram's sample count), and whether there is one.
func (m Metrics) Value(name string, labels map[string]string) (float64, bool) {
	f, ok := m[name]
	if !ok {
		return 0, false
	}
next:
	for _, metric := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range metric.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case metric.Counter != nil:
			return metric.GetCounter().GetValue(), true
		case metric.Gauge != nil:
			return metric.GetGauge().GetValue(), true
		case metric.Histogram != nil:
			return float64(metric.GetHistogram().GetSampleCount()), true
		case metric.Untyped != nil:
			return metric.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func status(ctx context.Context, url string) (int, error) {
	code, _, err := get(ctx, url)
	return code, err
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logs returns what the service logged so far.
func (s *Service) Logs() string { return s.logs.String() }
