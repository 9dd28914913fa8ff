package events

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRawEnvelopeRoundTrip(t *testing.T) {
	data := []byte(`{"sessionId":"s-1","extra":true}`)
	r := Raw{ID: RawID("bemo", "sessions", "s-1", data), Provider: "bemo", Resource: "sessions", Scope: "acc-1",
		RecordID: "s-1", FetchedAt: time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC), Data: data}
	m := RawMsg(r)
	if m.Subject != "raw.bemo.sessions" {
		t.Fatalf("subject %q", m.Subject)
	}
	// Binary mode: lower-case ce- headers exactly as CloudEvents SDKs read them.
	want := map[string]string{
		"ce-specversion": "1.0", "ce-id": r.ID, "ce-source": "/providers/bemo/acc-1",
		"ce-type": "io.chargeline.raw.bemo.sessions", "ce-subject": "s-1", "content-type": "application/json",
		nats.MsgIdHdr: r.ID,
	}
	for k, v := range want {
		if got := m.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %v, want %q", k, got, v)
		}
	}
	back, err := ParseRaw(m.Subject, m.Header, m.Data, 42)
	if err != nil {
		t.Fatal(err)
	}
	r.Sequence = 42
	if back.ID != r.ID || back.Provider != r.Provider || back.Resource != r.Resource || back.Scope != r.Scope ||
		back.RecordID != r.RecordID || !back.FetchedAt.Equal(r.FetchedAt) || string(back.Data) != string(data) || back.Sequence != 42 {
		t.Fatalf("round trip: got %+v, want %+v", back, r)
	}
}

func TestParseRawRejectsOtherSubjectsAndMissingID(t *testing.T) {
	for _, subject := range []string{"events.charging_session.v1.bemo", "raw.bemo", "raw..sessions", "raw.bemo.sessions.x"} {
		if _, err := ParseRaw(subject, nats.Header{HeaderID: {"x"}}, nil, 1); err == nil {
			t.Errorf("ParseRaw(%q) accepted", subject)
		}
	}
	if _, err := ParseRaw("raw.bemo.sessions", nats.Header{}, nil, 1); err == nil {
		t.Error("ParseRaw accepted a message without ce-id")
	}
}

func TestIDsAreDeterministicAndContentSensitive(t *testing.T) {
	a := RawID("bemo", "sessions", "s-1", []byte(`{"a":1}`))
	if a != RawID("bemo", "sessions", "s-1", []byte(`{"a":1}`)) {
		t.Error("same record, different ids")
	}
	for _, other := range []string{
		RawID("bemo", "sessions", "s-1", []byte(`{"a":2}`)), // changed content: an update
		RawID("pip", "sessions", "s-1", []byte(`{"a":1}`)),
		RawID("bemo", "sessions", "s-2", []byte(`{"a":1}`)),
		// Field boundaries are delimited: shifting text between parts changes the id.
		RawID("bemo", "session", "ss-1", []byte(`{"a":1}`)),
	} {
		if other == a {
			t.Errorf("distinct records share id %s", a)
		}
	}
	if EventID("bemo", TypeChargingSession, "s-1", a) == EventID("bemo", TypeInvoice, "s-1", a) {
		t.Error("event types share an id")
	}
}

func TestEventEnvelope(t *testing.T) {
	e := Event{ID: "abc", Type: TypeInvoice, Provider: "mews", Source: "/providers/mews/Bill", Subject: "mews:b-1",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Data: []byte(`{}`)}
	m := EventMsg(e)
	if m.Subject != "events.invoice.v1.mews" || m.Header.Get(HeaderType) != "io.chargeline.invoice.v1" ||
		m.Header.Get(nats.MsgIdHdr) != "abc" || m.Header.Get(HeaderTime) != "2026-01-02T02:04:05Z" ||
		m.Header.Get(HeaderDataSchema) != "https://chargeline.io/schemas/events/invoice.v1.schema.json" {
		t.Fatalf("event message: %s %v", m.Subject, m.Header)
	}
}
