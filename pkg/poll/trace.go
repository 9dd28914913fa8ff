package poll

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// pageTrace tells the scheduler which page span a record came from. A source fetches a page,
// emits its records, then fetches the next, all under the context the scheduler gave Fetch: the
// transport stores each request's span here, and the records emitted after it carry that span as
// their ce-traceparent. Before the first request, records carry the poll's own span.
type pageTrace struct {
	mu sync.Mutex
	sc trace.SpanContext
}

type pageTraceKey struct{}

func withPageTrace(ctx context.Context, poll trace.SpanContext) (context.Context, *pageTrace) {
	p := &pageTrace{sc: poll}
	return context.WithValue(ctx, pageTraceKey{}, p), p
}

func pageTraceFrom(ctx context.Context) *pageTrace {
	p, _ := ctx.Value(pageTraceKey{}).(*pageTrace)
	return p
}

func (p *pageTrace) set(sc trace.SpanContext) {
	p.mu.Lock()
	p.sc = sc
	p.mu.Unlock()
}

func (p *pageTrace) get() trace.SpanContext {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sc
}
