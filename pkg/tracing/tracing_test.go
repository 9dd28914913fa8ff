package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/tracing"
	"github.com/chargeline/chargeline/pkg/tracing/tracingtest"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestFromEnvIsOffUnlessAsked(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"nothing set":          {},
		"sdk disabled":         {tracing.EnvSDKDisabled: "true", tracing.EnvEndpoint: "http://collector:4318"},
		"exporter none":        {tracing.EnvTracesExporter: "none", tracing.EnvEndpoint: "http://collector:4318"},
		"only a sampler named": {tracing.EnvTracesSampler: "always_on"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := tracing.FromEnv(t.Context(), "sink", env(kv))
			if err != nil || p != nil {
				t.Fatalf("FromEnv = %v, %v; want off (nil, nil)", p, err)
			}
			if p.TracerProvider() != nil || tracing.Tracer(p.TracerProvider(), "pkg/x") != nil {
				t.Fatal("an off provider hands out a tracer")
			}
		})
	}
}

func TestFromEnvEndpointAndSampler(t *testing.T) {
	for _, tc := range []struct {
		kv               map[string]string
		endpoint, sample string
	}{
		{map[string]string{tracing.EnvEndpoint: "http://collector:4318"}, "http://collector:4318/v1/traces", "parentbased_always_on"},
		{map[string]string{tracing.EnvEndpoint: "https://collector:4318/"}, "https://collector:4318/v1/traces", "parentbased_always_on"},
		{map[string]string{tracing.EnvTracesEndpoint: "http://c:9/custom", tracing.EnvEndpoint: "http://other:4318"}, "http://c:9/custom", "parentbased_always_on"},
		{map[string]string{tracing.EnvTracesExporter: "otlp"}, "http://localhost:4318/v1/traces", "parentbased_always_on"},
		{map[string]string{tracing.EnvTracesExporter: "otlp", tracing.EnvTracesSampler: "parentbased_traceidratio", tracing.EnvTracesSamplerArg: "0.01"}, "http://localhost:4318/v1/traces", "parentbased_traceidratio(0.01)"},
	} {
		p, err := tracing.FromEnv(t.Context(), "sink", env(tc.kv))
		if err != nil {
			t.Fatalf("%v: %v", tc.kv, err)
		}
		if p.Endpoint != tc.endpoint || p.Sampler != tc.sample {
			t.Errorf("%v: endpoint %q sampler %q; want %q, %q", tc.kv, p.Endpoint, p.Sampler, tc.endpoint, tc.sample)
		}
		_ = p.Shutdown(t.Context())
	}
}

func TestFromEnvRefusesWhatItCannotHonour(t *testing.T) {
	for _, tc := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{tracing.EnvTracesExporter: "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{tracing.EnvEndpoint: "http://c:4317", tracing.EnvProtocol: "grpc"}, "http/protobuf"},
		{map[string]string{tracing.EnvEndpoint: "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{tracing.EnvEndpoint: "http://c:4318", tracing.EnvTracesSampler: "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{tracing.EnvEndpoint: "http://c:4318", tracing.EnvTracesSampler: "traceidratio", tracing.EnvTracesSamplerArg: "2"}, "OTEL_TRACES_SAMPLER_ARG"},
	} {
		_, err := tracing.FromEnv(t.Context(), "sink", env(tc.kv))
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v; want config.ErrInvalid naming %s", tc.kv, err, tc.want)
		}
	}
}

// TestSpansReachTheCollector exports through OTLP/HTTP to a receiver decoding the protobuf the
// exporter sends, and carries the span across a NATS header the way the stages do.
func TestSpansReachTheCollector(t *testing.T) {
	c := tracingtest.Start(t)
	p, err := tracing.FromEnv(t.Context(), "poller", env(map[string]string{tracing.EnvEndpoint: c.URL}))
	if err != nil {
		t.Fatal(err)
	}
	tr := tracing.Tracer(p.TracerProvider(), "pkg/test")
	_, page := tr.Start(t.Context(), "GET page")
	h := nats.Header{}
	tracing.Inject(page.SpanContext(), h)
	page.End()
	if got := h.Get(tracing.HeaderTraceParent); !strings.HasPrefix(got, "00-"+page.SpanContext().TraceID().String()+"-"+page.SpanContext().SpanID().String()) {
		t.Fatalf("ce-traceparent = %q", got)
	}
	parent := tracing.Extract(h.Get)
	_, mapping := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "map")
	tracing.End(mapping, errors.New("unmappable"))
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := c.Spans()
	if len(spans) != 2 {
		t.Fatalf("collector received %d spans, want 2: %+v", len(spans), spans)
	}
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	pg, mp := byName["GET page"], byName["map"]
	if mp.ParentID != pg.SpanID || mp.TraceID != pg.TraceID || !mp.Error || pg.Service != "chargeline-poller" {
		t.Errorf("page %+v, mapping %+v: want the mapping a failed child of the page, service chargeline-poller", pg, mp)
	}
}

func TestExtractWithoutAValidHeaderIsARoot(t *testing.T) {
	for _, v := range []string{"", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"} {
		h := nats.Header{tracing.HeaderTraceParent: {v}}
		if sc := tracing.Extract(h.Get); sc.IsValid() {
			t.Errorf("ce-traceparent %q gave a valid span context %v", v, sc)
		}
	}
	h := nats.Header{}
	tracing.Inject(trace.SpanContext{}, h)
	if len(h) != 0 {
		t.Errorf("an invalid span context wrote headers %v", h)
	}
}
