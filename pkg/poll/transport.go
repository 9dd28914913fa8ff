package poll

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/tracing"
)

// NewTransport wraps base (nil: http.DefaultTransport) so that every request a provider client
// sends through it is counted in chargeline_poller_requests_total{provider, status} (status
// "error" when no response came back) and timed in chargeline_poller_request_duration_seconds
// {provider} until the response headers arrived. The poller's main gives it to the provider's
// *http.Client, so every provider is measured without knowing it. reg nil registers nothing.
//
// With tp set, every request is also a span ("GET <provider>": a page, an export call, a
// download, a token request), a child of the scheduler's poll span, and the records the source
// emits after it carry it as their ce-traceparent. The provider is not sent a traceparent: our
// trace ids are no business of a third party's API.
func NewTransport(base http.RoundTripper, provider string, reg prometheus.Registerer, tp trace.TracerProvider) http.RoundTripper {
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
		duration: duration.WithLabelValues(provider), provider: provider, tracer: tracing.Tracer(tp, "pkg/poll"),
	}
}

type transport struct {
	base     http.RoundTripper
	requests *prometheus.CounterVec
	duration prometheus.Observer
	provider string
	tracer   trace.Tracer // nil: tracing off
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var span trace.Span
	if t.tracer != nil {
		_, span = t.tracer.Start(req.Context(), req.Method+" "+t.provider, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("http.request.method", req.Method),
				attribute.String("server.address", req.URL.Hostname()),
				attribute.String("url.path", req.URL.Path), // not the query: it may hold a key
				attribute.String("chargeline.provider", t.provider),
			))
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	t.duration.Observe(time.Since(start).Seconds())
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.requests.WithLabelValues(status).Inc()
	if span != nil {
		if err == nil {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
			if resp.StatusCode >= 400 {
				span.SetStatus(codes.Error, resp.Status)
			}
		}
		tracing.End(span, err)
		if p := pageTraceFrom(req.Context()); p != nil {
			p.set(span.SpanContext())
		}
	}
	return resp, err
}

// maxIdlePerHost bounds the idle connections kept to a provider: one per scope polled at once,
// for the scope counts operators configure.
const maxIdlePerHost = 64

// NewHTTPClient is the client a provider's source is given, wherever a poller runs (the poller
// service, devstack, the bench): NewTransport over a copy of http.DefaultTransport that keeps
// an idle connection per scope. Every scope of a provider is polled at once, all on the
// provider's one host: the default transport keeps two idle connections per host, so with more
// scopes the rest were closed after each page and dialled anew.
func NewHTTPClient(timeout time.Duration, provider string, reg prometheus.Registerer, tp trace.TracerProvider) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = max(base.MaxIdleConnsPerHost, maxIdlePerHost)
	return &http.Client{Timeout: timeout, Transport: NewTransport(base, provider, reg, tp)}
}
