// Package tracing sets up OpenTelemetry tracing from the standard OTEL_* environment, and carries
// a span's context from one stage to the next in NATS headers as the CloudEvents
// distributed-tracing extension (ce-traceparent, ce-tracestate), so that a record can be followed
// from the provider page it came from, through its mapping, to the insert that wrote its row, and
// a subscriber of RAW or EVENTS can continue the trace.
//
// Tracing is opt-in: with none of the variables FromEnv reads set, it returns a nil
// TracerProvider, and every instrumented stage skips its tracing code behind one nil check (no
// span, no header, no allocation).
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/config"
)

// Env names FromEnv reads (the OpenTelemetry SDK's own names).
const (
	EnvSDKDisabled      = "OTEL_SDK_DISABLED"
	EnvTracesExporter   = "OTEL_TRACES_EXPORTER"
	EnvEndpoint         = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol         = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol   = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName      = "OTEL_SERVICE_NAME"
	EnvTracesSampler    = "OTEL_TRACES_SAMPLER"
	EnvTracesSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
)

// Provider is the tracing a process runs with; a nil *Provider is tracing off.
type Provider struct {
	sdk      *sdktrace.TracerProvider
	Endpoint string // where spans are exported, for the start-up log line
	Sampler  string
}

// FromEnv returns the tracing the OTEL_* variables ask for, read with getenv, or nil when they
// ask for none. Tracing is on when OTEL_TRACES_EXPORTER is "otlp", or when it is unset and an
// OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is; it is off
// with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Spans go over OTLP/HTTP (protobuf)
// in batches; the exporter's other settings (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// _COMPRESSION, OTEL_BSP_*) and OTEL_RESOURCE_ATTRIBUTES are read from the process environment
// by the SDK itself. service names the process (service.name) unless OTEL_SERVICE_NAME does.
// A value FromEnv cannot honour (grpc, an unknown exporter or sampler, a bad URL) is a
// config.ErrInvalid error naming the variable: the SDK would fall back to a default silently.
func FromEnv(ctx context.Context, service string, getenv func(string) string) (*Provider, error) {
	if v := strings.ToLower(strings.TrimSpace(getenv(EnvSDKDisabled))); v == "true" {
		return nil, nil
	}
	traces, generic := getenv(EnvTracesEndpoint), getenv(EnvEndpoint)
	exporter := strings.ToLower(strings.TrimSpace(getenv(EnvTracesExporter)))
	switch exporter {
	case "":
		if traces == "" && generic == "" {
			return nil, nil // opt-in: nothing asks for tracing
		}
	case "none":
		return nil, nil
	case "otlp":
	default:
		return nil, fmt.Errorf("%w: %s=%q: chargeline exports traces with otlp (or none)", config.ErrInvalid, EnvTracesExporter, exporter)
	}
	protocol := getenv(EnvTracesProtocol)
	if protocol == "" {
		protocol = getenv(EnvProtocol)
	}
	if protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("%w: %s=%q: chargeline exports OTLP over http/protobuf only (a collector's port 4318)", config.ErrInvalid, EnvProtocol, protocol)
	}
	endpoint, err := endpointURL(traces, generic)
	if err != nil {
		return nil, err
	}
	sampler, samplerName, err := samplerFrom(getenv)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter for %s: %w", endpoint, err)
	}
	name := getenv(EnvServiceName)
	if name == "" {
		name = "chargeline-" + service
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	if fromEnv, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, fromEnv); err == nil {
			res = merged
		}
	}
	// A sink's insert span links to a span per sampled row of its batch (thousands), where the
	// SDK keeps 128 by default and drops the rest.
	limits := sdktrace.NewSpanLimits()
	if os.Getenv(envLinkCountLimit) == "" {
		limits.LinkCountLimit = MaxLinks
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler), sdktrace.WithRawSpanLimits(limits))
	return &Provider{sdk: tp, Endpoint: endpoint, Sampler: samplerName}, nil
}

// MaxLinks is the links a span keeps unless OTEL_SPAN_LINK_COUNT_LIMIT says otherwise: a
// sink batch's rows at the largest batch size operators use.
const MaxLinks = 10000

const envLinkCountLimit = "OTEL_SPAN_LINK_COUNT_LIMIT"

// New wraps an SDK TracerProvider (tests give one with an in-memory exporter).
func New(tp *sdktrace.TracerProvider) *Provider { return &Provider{sdk: tp} }

// TracerProvider returns the provider to take tracers from, nil when p is off.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.sdk
}

// Tracer returns the tracer of the instrumented package pkg, nil when p is off: callers keep
// it and skip their tracing code when it is nil.
func Tracer(tp trace.TracerProvider, pkg string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/chargeline/chargeline/" + pkg)
}

// Shutdown exports the spans still buffered and stops the exporter, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// ForceFlush exports the spans buffered so far.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// endpointURL is where spans are posted: the traces endpoint as given, or the generic one with
// the signal's path appended, as the OTLP exporter specification says.
func endpointURL(traces, generic string) (string, error) {
	name, raw := EnvTracesEndpoint, traces
	if raw == "" {
		name, raw = EnvEndpoint, generic
		if raw == "" {
			raw = "http://localhost:4318"
		}
		raw = strings.TrimSuffix(raw, "/") + "/v1/traces"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %s=%q: want an http(s) URL, e.g. http://otel-collector:4318", config.ErrInvalid, name, raw)
	}
	return raw, nil
}

// samplerFrom reads OTEL_TRACES_SAMPLER and its argument the way the specification names them.
func samplerFrom(getenv func(string) string) (sdktrace.Sampler, string, error) {
	name := strings.ToLower(strings.TrimSpace(getenv(EnvTracesSampler)))
	if name == "" {
		name = "parentbased_always_on"
	}
	ratio := 1.0
	if strings.HasSuffix(name, "traceidratio") {
		if arg := strings.TrimSpace(getenv(EnvTracesSamplerArg)); arg != "" {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return nil, "", fmt.Errorf("%w: %s=%q: want a ratio between 0 and 1", config.ErrInvalid, EnvTracesSamplerArg, arg)
			}
			ratio = r
		}
		name += "(" + strconv.FormatFloat(ratio, 'g', -1, 64) + ")"
	}
	switch strings.SplitN(name, "(", 2)[0] {
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), name, nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), name, nil
	}
	return nil, "", fmt.Errorf("%w: %s=%q: want always_on, always_off, traceidratio or their parentbased_ forms", config.ErrInvalid, EnvTracesSampler, name)
}

// ShutdownTimeout bounds the export of the last spans when a service stops.
const ShutdownTimeout = 5 * time.Second
