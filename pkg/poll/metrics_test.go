package poll_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/poll"
)

// apiError is a provider client's error type, as the providers' APIError types look.
type apiError struct {
	status int
	code   string
}

func (e *apiError) Error() string        { return fmt.Sprintf("HTTP %d %s", e.status, e.code) }
func (e *apiError) HTTPStatus() int      { return e.status }
func (e *apiError) ProviderCode() string { return e.code }

// flakySource answers its first two requests with a 429 and a 200-with-error-code (the way
// Be-Mo and Plugsurfing carry errors in 200 bodies), through a nested Retry as a provider
// client may do, then serves three records.
type flakySource struct {
	calls int
}

func (s *flakySource) Scopes(context.Context) ([]string, error) { return []string{"acc-1"}, nil }

func (s *flakySource) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if from != "" {
		return nil
	}
	b := poll.Backoff{Initial: time.Millisecond, Max: time.Millisecond}
	err := poll.Retry(ctx, b, func(ctx context.Context) error {
		// The inner loop reports its error once; the outer attempt returning it must not count
		// it again.
		return poll.Retry(ctx, poll.Backoff{MaxAttempts: 1}, func(context.Context) error {
			s.calls++
			switch s.calls {
			case 1:
				return &poll.TemporaryError{Err: &apiError{status: http.StatusTooManyRequests, code: "TooManyRequests"}}
			case 2:
				return &poll.TemporaryError{Err: &apiError{status: http.StatusOK, code: "Busy"}}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := emit(poll.Record{Resource: "things", ID: fmt.Sprint(i), Data: []byte(`{}`), Next: poll.Checkpoint(fmt.Sprint(i))}); err != nil {
			return err
		}
	}
	return nil
}

func TestSchedulerMetrics(t *testing.T) {
	ns := natstest.Start(t)
	reg := prometheus.NewPedanticRegistry()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := poll.NewScheduler(t.Context(), poll.Config{Provider: "fake", Now: clock}, &flakySource{}, ns.JS, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(90 * time.Second)
	want := `
# HELP chargeline_poller_checkpoint_age_seconds Time since the scope's checkpoint was last written (by any replica, as far as this one knows), at scrape time.
# TYPE chargeline_poller_checkpoint_age_seconds gauge
chargeline_poller_checkpoint_age_seconds{provider="fake",scope="acc-1"} 90
# HELP chargeline_poller_provider_errors_total Error answers of the provider API (every failed attempt, retried or not) by HTTP status and the provider's error code (code="none" when it sent none).
# TYPE chargeline_poller_provider_errors_total counter
chargeline_poller_provider_errors_total{code="Busy",provider="fake",status="200"} 1
chargeline_poller_provider_errors_total{code="TooManyRequests",provider="fake",status="429"} 1
# HELP chargeline_poller_records_fetched_total Provider records fetched.
# TYPE chargeline_poller_records_fetched_total counter
chargeline_poller_records_fetched_total{provider="fake",resource="things"} 3
# HELP chargeline_poller_records_published_total Provider records published with a PubAck.
# TYPE chargeline_poller_records_published_total counter
chargeline_poller_records_published_total{provider="fake"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"chargeline_poller_checkpoint_age_seconds", "chargeline_poller_provider_errors_total",
		"chargeline_poller_records_fetched_total", "chargeline_poller_records_published_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "chargeline_poller_poll_success_timestamp_seconds"); n != 1 {
		t.Errorf("%d poll success series, want 1", n)
	}

	// A second scheduler (a restarted poller) learns the checkpoint's age from the bucket.
	reg2 := prometheus.NewPedanticRegistry()
	s2, err := poll.NewScheduler(t.Context(), poll.Config{Provider: "fake", Now: time.Now}, &flakySource{}, ns.JS, nil, reg2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg2, "chargeline_poller_checkpoint_age_seconds"); n != 1 {
		t.Errorf("restarted scheduler reports %d checkpoint ages, want 1", n)
	}
}

func TestTransportCountsRequestsByStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewPedanticRegistry()
	hc := &http.Client{Transport: poll.NewTransport(nil, "fake", reg, nil)}
	for _, path := range []string{"/", "/", "/busy"} {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := hc.Get("http://127.0.0.1:1/"); err == nil { // nothing listens on port 1
		t.Fatal("request to a closed port succeeded")
	}
	want := `
# HELP chargeline_poller_requests_total Provider API requests (pages, export calls, file downloads, token requests) by HTTP status; status="error" when no response came back.
# TYPE chargeline_poller_requests_total counter
chargeline_poller_requests_total{provider="fake",status="200"} 2
chargeline_poller_requests_total{provider="fake",status="429"} 1
chargeline_poller_requests_total{provider="fake",status="error"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "chargeline_poller_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "chargeline_poller_request_duration_seconds"); n != 1 {
		t.Fatalf("%d duration series, want 1", n)
	}
	// Two transports (a poller's client and a copy) share one registry.
	_ = poll.NewTransport(nil, "other", reg, nil)
}

func TestRetryWithoutSchedulerIgnoresProviderErrors(t *testing.T) {
	err := poll.Retry(t.Context(), poll.Backoff{MaxAttempts: 1}, func(context.Context) error { return &apiError{status: 500} })
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("Retry returned %v", err)
	}
}
