package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The CloudEvents distributed-tracing extension's attributes in NATS binary mode: the W3C Trace
// Context values under the binding's ce- prefix.
const (
	HeaderTraceParent = "ce-traceparent"
	HeaderTraceState  = "ce-tracestate"
)

var traceContext propagation.TraceContext

// Inject writes sc into h as ce-traceparent (and ce-tracestate when it has one). An invalid sc
// (no span: tracing off upstream) writes nothing.
func Inject(sc trace.SpanContext, h nats.Header) {
	if !sc.IsValid() {
		return
	}
	traceContext.Inject(trace.ContextWithSpanContext(context.Background(), sc), headerCarrier(h))
}

// Extract reads the span context a message's ce-traceparent carries; get reads one header (a
// nats.Header's Get, or a watermill message's Metadata.Get). Without one, or with a malformed
// one, it returns the invalid SpanContext, and a span started under it is a root.
func Extract(get func(string) string) trace.SpanContext {
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), getter(get)))
}

// headerCarrier maps the W3C names propagation uses onto the ce- headers. NATS headers are
// case-sensitive: they are written in lower case, as the CloudEvents binding reads them.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get("ce-" + key) }
func (c headerCarrier) Set(key, value string) { c["ce-"+key] = []string{value} }
func (c headerCarrier) Keys() []string        { return []string{"traceparent", "tracestate"} }

type getter func(string) string

func (g getter) Get(key string) string { return g("ce-" + key) }
func (g getter) Set(string, string)    {}
func (g getter) Keys() []string        { return []string{"traceparent", "tracestate"} }

// End ends span, marking it failed with err unless err is nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
