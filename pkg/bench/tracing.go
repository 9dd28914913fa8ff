package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/tracing"
)

// e2eTracedScenario: the e2e scenario again with tracing on as OTEL_EXPORTER_OTLP_ENDPOINT turns
// it on, at the default sampler (every record traced: the worst case), exporting over OTLP/HTTP to
// a receiver in the harness that reads each request and drops it. Its ratio is to the e2e row of
// this run, where tracing is off: what tracing costs when on. Off, each stage pays one nil check
// per record (or batch).
func (h *harness) e2eTracedScenario(ctx context.Context, untraced Result) ([]Result, error) {
	n := h.cfg.E2ERecords
	recv, err := startSpanDrain()
	if err != nil {
		return nil, err
	}
	defer recv.close()
	tp, err := tracing.FromEnv(ctx, "bench", func(k string) string {
		return map[string]string{tracing.EnvEndpoint: recv.url}[k]
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	st, err := h.newStage(ctx, ScenarioE2ETraced, n)
	if err != nil {
		return nil, err
	}
	defer st.close()
	svc, err := st.measure(ctx, run{
		scenario: ScenarioE2ETraced, name: "end to end, traced", records: n,
		start: func(ctx context.Context, g *group) error { return startPipeline(ctx, st, g, tp.TracerProvider()) },
		done:  h.tablesHold(n, sink.TableChargingSessions, sink.TableRawRecords),
	})
	if err != nil {
		return nil, err
	}
	if err := tp.ForceFlush(ctx); err != nil {
		return nil, fmt.Errorf("bench: flush spans: %w", err)
	}
	if untraced.RecordsPerSecond > 0 {
		svc.ratio(untraced)
	}
	svc.note("tracing on (OTEL_EXPORTER_OTLP_ENDPOINT, sampler parentbased_always_on): %d OTLP requests, %.1f MB of spans exported to a receiver in the harness that drops them",
		recv.requests.Load(), float64(recv.bytes.Load())/1e6)
	if err := h.checkExact(ctx, &svc, n, sink.TableChargingSessions, sink.TableRawRecords); err != nil {
		return nil, err
	}
	return []Result{svc}, nil
}

// spanDrain is an OTLP/HTTP endpoint that reads and counts what it is sent, and keeps nothing.
type spanDrain struct {
	url      string
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

func startSpanDrain() (*spanDrain, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: span receiver: %w", err)
	}
	d := &spanDrain{url: "http://" + ln.Addr().String()}
	d.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		d.requests.Add(1)
		d.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
	})}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

func (d *spanDrain) close() { _ = d.srv.Close() }
