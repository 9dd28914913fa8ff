package bus_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
)

var fetched = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func sampleEvent() events.Event {
	return events.Event{
		ID: events.EventID("bemo", events.TypeChargingSession, "s-1", "v1"), Type: events.TypeChargingSession,
		Provider: "bemo", Source: "/providers/bemo/acc-1", Subject: "bemo:s-1", Time: fetched,
		Data: []byte(`{"id":"bemo:s-1"}`),
	}
}

func sampleRaw() events.Raw {
	data := []byte(`{"sessionId":"s-1"}`)
	return events.Raw{
		ID: events.RawID("bemo", "sessions", "s-1", data), Provider: "bemo", Resource: "sessions", Scope: "acc-1",
		RecordID: "s-1", FetchedAt: fetched, Data: data,
	}
}

func sameHeader(a, b nats.Header) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// A canonical event published through watermill is byte for byte what events.EventMsg builds.
func TestMarshalMatchesEventMsg(t *testing.T) {
	e := sampleEvent()
	want := events.EventMsg(e)
	got, err := bus.CloudEvents{}.Marshal(e.NATSSubject(), bus.Message(want))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || string(got.Data) != string(want.Data) || !sameHeader(got.Header, want.Header) {
		t.Fatalf("Marshal(Message(EventMsg)) =\n %s %v %s\nwant\n %s %v %s", got.Subject, got.Header, got.Data, want.Subject, want.Header, want.Data)
	}
}

func TestMarshalHeaders(t *testing.T) {
	tests := []struct {
		name    string
		uuid    string
		meta    message.Metadata
		want    nats.Header
		wantErr bool
	}{
		{
			name: "CloudEvents headers in lower case, Nats-Msg-Id = ce-id",
			uuid: "u-1",
			meta: message.Metadata{"Ce-Id": "id-1", "CE-Type": "io.chargeline.x", "Content-Type": "application/json", "chargeline-scope": "acc"},
			want: nats.Header{"ce-id": {"id-1"}, "ce-type": {"io.chargeline.x"}, "content-type": {"application/json"},
				"chargeline-scope": {"acc"}, "ce-specversion": {"1.0"}, "Nats-Msg-Id": {"id-1"}},
		},
		{
			name: "UUID becomes the ce-id when there is none",
			uuid: "u-2",
			meta: message.Metadata{},
			want: nats.Header{"ce-id": {"u-2"}, "ce-specversion": {"1.0"}, "Nats-Msg-Id": {"u-2"}},
		},
		{
			name: "an explicit Nats-Msg-Id wins, spelled as JetStream reads it",
			uuid: "u-3",
			meta: message.Metadata{"ce-id": "id-3", "nats-msg-id": "dlq-normalize-id-3"},
			want: nats.Header{"ce-id": {"id-3"}, "ce-specversion": {"1.0"}, "Nats-Msg-Id": {"dlq-normalize-id-3"}},
		},
		{
			name: "receive-side metadata stays in the process",
			uuid: "u-4",
			meta: message.Metadata{"ce-id": "id-4", bus.MetaSubject: "raw.x.y", bus.MetaSequence: "9", bus.MetaStream: "RAW",
				bus.MetaDelivered: "2", "_watermill_message_uuid": "w"},
			want: nats.Header{"ce-id": {"id-4"}, "ce-specversion": {"1.0"}, "Nats-Msg-Id": {"id-4"}},
		},
		{name: "no id at all is an error", meta: message.Metadata{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message.NewMessage(tt.uuid, []byte("{}"))
			m.Metadata = tt.meta
			got, err := bus.CloudEvents{}.Marshal("events.x.v1.p", m)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Marshal = %v, want an error", got.Header)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameHeader(got.Header, tt.want) {
				t.Errorf("headers\n got %v\nwant %v", got.Header, tt.want)
			}
		})
	}
}

// A raw record read through the codec keeps its headers and stream sequence, so the normalizer
// can rebuild it exactly (lineage) and forward it unchanged (DLQ).
func TestUnmarshalKeepsHeadersAndSequence(t *testing.T) {
	srv := natstest.Start(t)
	r := sampleRaw()
	orig := events.RawMsg(r)
	ack, err := srv.JS.PublishMsg(t.Context(), orig)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := srv.JS.CreateConsumer(t.Context(), bus.StreamRaw, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	jm, err := cons.Next()
	if err != nil {
		t.Fatal(err)
	}
	wm, err := bus.CloudEvents{}.Unmarshal(jm)
	if err != nil {
		t.Fatal(err)
	}
	if wm.UUID != r.ID {
		t.Errorf("UUID = %q, want the ce-id %q", wm.UUID, r.ID)
	}
	if bus.Subject(wm) != "raw.bemo.sessions" || bus.StreamSequence(wm) != ack.Sequence || bus.Delivered(wm) != 1 ||
		wm.Metadata.Get(bus.MetaStream) != bus.StreamRaw {
		t.Errorf("receive metadata: subject %q seq %d delivered %d stream %q; want raw.bemo.sessions, %d, 1, RAW",
			bus.Subject(wm), bus.StreamSequence(wm), bus.Delivered(wm), wm.Metadata.Get(bus.MetaStream), ack.Sequence)
	}
	for k, v := range orig.Header {
		if got := wm.Metadata.Get(k); got != strings.Join(v, ",") && k != nats.MsgIdHdr {
			t.Errorf("metadata %s = %q, want the header %q", k, got, v)
		}
	}
	// Nats-Msg-Id = ce-id is left out (Marshal writes it back, checked below): the metadata
	// then fits a map of 16 slots.
	if _, ok := wm.Metadata[nats.MsgIdHdr]; ok || len(wm.Metadata) > 14 {
		t.Errorf("metadata holds %d entries, Nats-Msg-Id %v; want ≤ 14, without the Nats-Msg-Id that repeats the ce-id", len(wm.Metadata), ok)
	}
	got, err := events.ParseRaw(bus.Subject(wm), bus.Header(wm), wm.Payload, bus.StreamSequence(wm))
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.Sequence = ack.Sequence
	if got.ID != want.ID || got.Scope != want.Scope || got.RecordID != want.RecordID || !got.FetchedAt.Equal(want.FetchedAt) ||
		string(got.Data) != string(want.Data) || got.Sequence != want.Sequence || got.Resource != want.Resource {
		t.Errorf("ParseRaw after Unmarshal = %+v, want %+v", got, want)
	}
	fwd, err := bus.CloudEvents{}.Marshal(orig.Subject, wm)
	if err != nil {
		t.Fatal(err)
	}
	if !sameHeader(fwd.Header, orig.Header) {
		t.Errorf("forwarded headers\n got %v\nwant %v", fwd.Header, orig.Header)
	}
}

// HeaderValue, which the normalizer reads a raw record's headers with, answers what
// Header(msg).Get answers for every name, also for one sent in another case, and nothing for
// the receive metadata that is not a header.
func TestHeaderValueAgreesWithHeader(t *testing.T) {
	wm := message.NewMessage("id", nil)
	wm.Metadata = message.Metadata{
		"ce-id": "r1", "Ce-Scope": "acc-1", "ce-subject": "s-1", "Nats-Msg-Id": "r1", "X-Other": "x",
		bus.MetaSubject: "raw.bemo.sessions", bus.MetaSequence: "7",
	}
	h := bus.Header(wm)
	for _, k := range []string{"ce-id", "ce-scope", "Ce-Scope", "ce-subject", "Nats-Msg-Id", "X-Other", "ce-missing", bus.MetaSubject, bus.MetaSequence} {
		if got, want := bus.HeaderValue(wm, k), h.Get(k); got != want {
			t.Errorf("HeaderValue(%q) = %q, Header().Get = %q", k, got, want)
		}
	}
}

// A Nats-Msg-Id that is not the ce-id (a dead letter's) is kept, and forwarded as it came.
func TestUnmarshalKeepsAnOwnNatsMsgID(t *testing.T) {
	jm := receivedRaw()
	jm.m.Header = nats.Header{"ce-id": {"r-1"}, "ce-specversion": {"1.0"}, nats.MsgIdHdr: {"dlq-normalize-42-r-1"}}
	wm, err := bus.CloudEvents{}.Unmarshal(jm)
	if err != nil {
		t.Fatal(err)
	}
	if got := wm.Metadata.Get(nats.MsgIdHdr); got != "dlq-normalize-42-r-1" {
		t.Errorf("metadata Nats-Msg-Id = %q, want the header's", got)
	}
	fwd, err := bus.CloudEvents{}.Marshal("dlq.normalize.bemo", wm)
	if err != nil {
		t.Fatal(err)
	}
	if got := fwd.Header.Get(nats.MsgIdHdr); got != "dlq-normalize-42-r-1" {
		t.Errorf("forwarded Nats-Msg-Id = %q, want the header's", got)
	}
}
