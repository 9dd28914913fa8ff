package devstack_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/tracing"
	"github.com/chargeline/chargeline/pkg/tracing/tracingtest"
)

// TestTracingFollowsARecordFromItsPageToItsRow runs Be-Mo simulator → poller → RAW → normalizer
// → EVENTS → sink → ClickHouse traced by OTEL_EXPORTER_OTLP_ENDPOINT, exporting over OTLP/HTTP to
// a receiver, and follows every record: its RAW message names the span of the page it came from
// (a child of the scope's poll); its events name the span of its mapping, a child of that page in
// the same trace; and every page and every mapping is the parent or a link of an insert span of
// the table its rows went to.
func TestTracingFollowsARecordFromItsPageToItsRow(t *testing.T) {
	c := tracingtest.Start(t)
	p, err := tracing.FromEnv(t.Context(), "devstack", func(k string) string {
		return map[string]string{tracing.EnvEndpoint: c.URL}[k]
	})
	if err != nil || p == nil {
		t.Fatalf("tracing.FromEnv = %v, %v", p, err)
	}
	s, _ := startTraced(t, 1500, sim.Faults{}, p.TracerProvider())
	runAll(t, s)
	checkExactlyOnce(t, s, 0)

	pageOfRaw := map[string]string{} // raw id → span id its ce-traceparent names
	forEach(t, s.JS, bus.StreamRaw, func(m jetstream.Msg) {
		sc := tracing.Extract(m.Headers().Get)
		if !sc.IsValid() || !sc.IsSampled() {
			t.Fatalf("raw %s: ce-traceparent %q", m.Headers().Get("ce-id"), m.Headers().Get(tracing.HeaderTraceParent))
		}
		pageOfRaw[m.Headers().Get("ce-id")] = sc.SpanID().String()
	})
	mappingOfEvent := map[string]string{}
	forEach(t, s.JS, bus.StreamEvents, func(m jetstream.Msg) {
		sc := tracing.Extract(m.Headers().Get)
		if !sc.IsValid() {
			t.Fatalf("event %s: no ce-traceparent", m.Headers().Get("ce-id"))
		}
		mappingOfEvent[m.Headers().Get("ce-id")] = sc.SpanID().String()
	})
	s.Stop() // every insert span ended
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	spans := map[string]tracingtest.Span{}
	insertsOf := map[string]map[string]bool{} // table → spans an insert names as parent or link
	for _, sp := range c.Spans() {
		spans[sp.SpanID] = sp
		if table, ok := strings.CutPrefix(sp.Name, "insert "); ok {
			if insertsOf[table] == nil {
				insertsOf[table] = map[string]bool{}
			}
			insertsOf[table][sp.ParentID] = true
			for _, l := range sp.Links {
				insertsOf[table][l] = true
			}
		}
	}
	for raw, page := range pageOfRaw {
		sp, ok := spans[page]
		if !ok || sp.Name != "GET bemo" || sp.Attrs["http.response.status_code"] != "200" {
			t.Fatalf("raw %s names span %s = %+v; want a page request to Be-Mo answered 200", raw, page, sp)
		}
		if poll := spans[sp.ParentID]; !strings.HasPrefix(poll.Name, "poll bemo ") || poll.TraceID != sp.TraceID {
			t.Fatalf("page %s's parent is %+v; want the scope's poll span", page, poll)
		}
		if !insertsOf["raw_records"][page] {
			t.Fatalf("page %s of raw %s is not named by any raw_records insert span", page, raw)
		}
	}
	for ev, mapping := range mappingOfEvent {
		sp, ok := spans[mapping]
		if !ok || !strings.HasPrefix(sp.Name, "map raw.bemo.") {
			t.Fatalf("event %s names span %s = %+v; want its mapping", ev, mapping, sp)
		}
		page, ok := spans[sp.ParentID]
		if !ok || page.Name != "GET bemo" || page.TraceID != sp.TraceID {
			t.Fatalf("mapping %s's parent %+v is not a page of the same trace", mapping, page)
		}
		if pageOfRaw[sp.Attrs["messaging.message.id"]] != page.SpanID {
			t.Fatalf("mapping %s of raw %s has parent %s; its RAW message names %s", mapping, sp.Attrs["messaging.message.id"], page.SpanID, pageOfRaw[sp.Attrs["messaging.message.id"]])
		}
		if !insertsOf["charging_sessions"][mapping] {
			t.Fatalf("mapping %s of event %s is not named by any charging_sessions insert span", mapping, ev)
		}
	}
	if len(pageOfRaw) == 0 || len(mappingOfEvent) == 0 {
		t.Fatalf("%d raw records, %d events", len(pageOfRaw), len(mappingOfEvent))
	}
}
