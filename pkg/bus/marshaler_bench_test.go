package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
)

// benchMsg is a received JetStream message without a server: what Unmarshal reads of one.
type benchMsg struct {
	jetstream.Msg
	m    *nats.Msg
	meta *jetstream.MsgMetadata
}

func (b benchMsg) Headers() nats.Header                      { return b.m.Header }
func (b benchMsg) Data() []byte                              { return b.m.Data }
func (b benchMsg) Subject() string                           { return b.m.Subject }
func (b benchMsg) Metadata() (*jetstream.MsgMetadata, error) { return b.meta, nil }

func receivedRaw() benchMsg {
	return benchMsg{m: events.RawMsg(sampleRaw()), meta: &jetstream.MsgMetadata{
		Sequence: jetstream.SequencePair{Stream: 42, Consumer: 42}, NumDelivered: 1, Stream: bus.StreamRaw, Timestamp: time.Now(),
	}}
}

// BenchmarkCloudEventsUnmarshal measures what the normalizer's subscriber does per raw record:
// a JetStream message into a watermill message.
func BenchmarkCloudEventsUnmarshal(b *testing.B) {
	jm := receivedRaw()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (bus.CloudEvents{}).Unmarshal(jm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseReceivedRaw measures reading the raw record back from a received watermill
// message (its headers rebuilt from metadata), as the normalizer's handler does.
func BenchmarkParseReceivedRaw(b *testing.B) {
	wm, err := (bus.CloudEvents{}).Unmarshal(receivedRaw())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ParseRaw(bus.Subject(wm), bus.Header(wm), wm.Payload, bus.StreamSequence(wm)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCloudEventsMarshal measures an event's way out through watermill: its NATS message
// turned into a watermill message and marshalled back (what Publisher.Publish does; the
// normalizer's PublishMsgs skips both steps).
func BenchmarkCloudEventsMarshal(b *testing.B) {
	e := sampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (bus.CloudEvents{}).Marshal(e.NATSSubject(), bus.Message(events.EventMsg(e))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeaderValueParse measures what the normalizer's handler does instead: the raw record
// read through HeaderValue, each header looked up in the metadata.
func BenchmarkHeaderValueParse(b *testing.B) {
	wm, err := (bus.CloudEvents{}).Unmarshal(receivedRaw())
	if err != nil {
		b.Fatal(err)
	}
	get := func(k string) string { return bus.HeaderValue(wm, k) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ParseRawFunc(bus.Subject(wm), get, wm.Payload, bus.StreamSequence(wm)); err != nil {
			b.Fatal(err)
		}
	}
}
