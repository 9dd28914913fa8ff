package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/service/servicetest"
	"github.com/chargeline/chargeline/pkg/tracing"
	"github.com/chargeline/chargeline/pkg/tracing/tracingtest"
)

// TestTracingIsTurnedOnByTheOTELEnvironment runs the normalizer's real wiring with
// OTEL_EXPORTER_OTLP_ENDPOINT set: a raw record whose ce-traceparent names a page span is mapped
// under a span that is that page's child, its event carries the mapping span on EVENTS, and the
// span reaches the collector when the service stops.
func TestTracingIsTurnedOnByTheOTELEnvironment(t *testing.T) {
	ns := natstest.Start(t)
	c := tracingtest.Start(t)
	svc := servicetest.Start(t, servicetest.Config{
		Name: "normalizer", Settings: pipeline.NormalizerSettings(), Run: pipeline.ServeNormalizer,
		Args: []string{"--nats-url=" + ns.URL},
		Env:  map[string]string{tracing.EnvEndpoint: c.URL, tracing.EnvServiceName: "normalizer-under-test"},
	})
	svc.WaitStatus(t, "/readyz", 200, time.Minute)

	data, err := os.ReadFile("../../pkg/providers/bemo/testdata/getsessionsbyaccount_200_data0.json")
	if err != nil {
		t.Fatal(err)
	}
	r := events.Raw{Provider: "bemo", Resource: "sessions", Scope: "acc-1", RecordID: "1", FetchedAt: time.Now(), Data: data}
	r.ID = events.RawID(r.Provider, r.Resource, r.RecordID, r.Data)
	msg := events.RawMsg(r)
	const page = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	msg.Header.Set(tracing.HeaderTraceParent, page)
	if _, err := ns.JS.PublishMsg(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	var ev jetstream.RawStreamMsg
	svc.Wait(t, time.Minute, func() bool {
		m, err := ns.JS.Stream(t.Context(), bus.StreamEvents)
		if err != nil {
			return false
		}
		got, err := m.GetMsg(t.Context(), 1)
		if err != nil {
			return false
		}
		ev = *got
		return true
	}, func() string { return "no event on EVENTS" })
	carried := ev.Header.Get(tracing.HeaderTraceParent)
	if !strings.HasPrefix(carried, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || carried == page {
		t.Fatalf("event's ce-traceparent = %q; want the page's trace with the mapping's span", carried)
	}
	if code := svc.Stop(t); code != service.ExitOK {
		t.Fatalf("exit code %d", code)
	}
	var mapping *tracingtest.Span
	for _, sp := range c.Spans() {
		if sp.Name == "map raw.bemo.sessions" {
			mapping = &sp
		}
	}
	if mapping == nil || mapping.ParentID != "00f067aa0ba902b7" || mapping.Service != "normalizer-under-test" ||
		!strings.Contains(carried, "-"+mapping.SpanID+"-") {
		t.Fatalf("mapping span %+v; want the child of span 00f067aa0ba902b7 named by the event's %q", mapping, carried)
	}
}

func TestAnOTELSettingItCannotHonourIsAConfigurationError(t *testing.T) {
	t.Setenv(tracing.EnvEndpoint, "http://collector:4317")
	t.Setenv(tracing.EnvProtocol, "grpc")
	var out bytes.Buffer
	if code := service.Main("normalizer", []string{"--http-addr="}, &out, pipeline.NormalizerSettings(), pipeline.ServeNormalizer); code != service.ExitConfig {
		t.Fatalf("exit code %d, want %d; output:\n%s", code, service.ExitConfig, out.String())
	}
	if !strings.Contains(out.String(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("output does not name the variable:\n%s", out.String())
	}
}
