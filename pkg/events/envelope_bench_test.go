package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
)

func benchRaw() events.Raw {
	data := []byte(`{"sessionId":"3fc8e82f-ec81-4ba3-a021-00d9db4c86db","placeName":"BERLIN HOLZMARKTSTR. 36-42",` +
		strings.Repeat(`"transactions":[{"currencyKey":"EUR","quantity":12.34,"totalAmount":20.5}],`, 8) + `"zipCode":"10243"}`)
	return events.Raw{
		ID: events.RawID("bemo", "sessions", "3fc8e82f-ec81-4ba3-a021-00d9db4c86db", data), Provider: "bemo", Resource: "sessions",
		Scope: "acc-1", RecordID: "3fc8e82f-ec81-4ba3-a021-00d9db4c86db", FetchedAt: time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC), Data: data,
	}
}

// BenchmarkRawID measures the deterministic raw id (SHA-256 of provider, resource, id, payload).
func BenchmarkRawID(b *testing.B) {
	r := benchRaw()
	b.SetBytes(int64(len(r.Data)))
	b.ReportAllocs()
	for b.Loop() {
		events.RawID(r.Provider, r.Resource, r.RecordID, r.Data)
	}
}

// BenchmarkRawMsg measures building a raw record's NATS message (CloudEvents binary mode).
func BenchmarkRawMsg(b *testing.B) {
	r := benchRaw()
	b.ReportAllocs()
	for b.Loop() {
		events.RawMsg(r)
	}
}

// BenchmarkParseRaw measures reading a raw record back from its message.
func BenchmarkParseRaw(b *testing.B) {
	m := events.RawMsg(benchRaw())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ParseRaw(m.Subject, m.Header, m.Data, 42); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventMsg measures building a canonical event's NATS message.
func BenchmarkEventMsg(b *testing.B) {
	e := events.Event{
		ID: events.EventID("bemo", events.TypeChargingSession, "s-1", "42"), Type: events.TypeChargingSession, Provider: "bemo",
		Source: "/providers/bemo/acc-1", Subject: "bemo:s-1", Time: time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC),
		Data: []byte(`{"schema_version":"1","id":"bemo:s-1","provider":"bemo","line_items":[]}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		events.EventMsg(e)
	}
}
