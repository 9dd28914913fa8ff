package poll

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewTransport wraps base (nil: http.DefaultTransport) so that every request a provider client
// sends through it is counted in chargeline_poller_requests_total{provider, status} (status
// "error" when no response came back) and timed in chargeline_poller_request_duration_seconds
// {provider} until the response headers arrived. The poller's main gives it to the provider's
// *http.Client, so every provider is measured without knowing it. reg nil registers nothing.
func NewTransport(base http.RoundTripper, provider string, reg prometheus.Registerer) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chargeline_poller_requests_total",
		Help: "Provider API requests (pages, export calls, file downloads, token requests) by HTTP status; status=\"error\" when no response came back.",
	}, []string{"provider", "status"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chargeline_poller_request_duration_seconds",
		Help:    "Time from sending a provider API request until its response headers (or its failure) arrived.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5ms … 41s
	}, []string{"provider"})
	if reg != nil {
		requests = register(reg, requests)
		duration = register(reg, duration)
	}
	return &transport{
		base: base, requests: requests.MustCurryWith(prometheus.Labels{"provider": provider}),
		duration: duration.WithLabelValues(provider),
	}
}

type transport struct {
	base     http.RoundTripper
	requests *prometheus.CounterVec
	duration prometheus.Observer
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	t.duration.Observe(time.Since(start).Seconds())
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.requests.WithLabelValues(status).Inc()
	return resp, err
}
