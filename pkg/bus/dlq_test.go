package bus_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
)

// recorder is an in-memory message.Publisher that fails while err is set.
type recorder struct {
	mu     sync.Mutex
	err    error
	topics []string
	msgs   []*message.Message
}

func (r *recorder) Publish(topic string, msgs ...*message.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	for _, m := range msgs {
		r.topics = append(r.topics, topic)
		r.msgs = append(r.msgs, m)
	}
	return nil
}

func (r *recorder) Close() error { return nil }

var errTransient = errors.New("events stream unavailable")

// received builds a message as the Subscriber hands it out: a raw record on its 2nd delivery.
func received(attempt string) *message.Message {
	m := bus.Message(events.RawMsg(sampleRaw()))
	m.Metadata[bus.MetaSubject] = "raw.bemo.sessions"
	m.Metadata[bus.MetaStream] = bus.StreamRaw
	m.Metadata[bus.MetaSequence] = "42"
	m.Metadata[bus.MetaDelivered] = attempt
	return m
}

func TestDLQ(t *testing.T) {
	tests := []struct {
		name       string
		handler    message.HandlerFunc
		attempt    string
		publishErr error
		wantErr    error  // nil: the handler reports success (the original is acked)
		wantReason string // "" = nothing dead-lettered
	}{
		{
			name:    "success passes through",
			handler: func(*message.Message) ([]*message.Message, error) { return nil, nil },
			attempt: "1",
		},
		{
			name:       "unmappable is dead-lettered on the first delivery",
			handler:    fail(fmt.Errorf("bemo: map: %w: sessionId is missing", events.ErrUnmappable)),
			attempt:    "1",
			wantReason: "bemo: map: events: record cannot be mapped: sessionId is missing",
		},
		{
			name:       "a panic is dead-lettered without its stack",
			handler:    middleware.Recoverer(func(*message.Message) ([]*message.Message, error) { panic("boom") }),
			attempt:    "1",
			wantReason: `panic: boom`,
		},
		{
			name:    "a transient error is Nacked for redelivery",
			handler: fail(errTransient),
			attempt: "2",
			wantErr: errTransient,
		},
		{
			name:       "a transient error on the last delivery is dead-lettered",
			handler:    fail(errTransient),
			attempt:    "3",
			wantReason: bus.ReasonMaxDeliveries + ": events stream unavailable",
		},
		{
			name:    "an unavailable bus on the last delivery is Nacked, not dead-lettered",
			handler: fail(fmt.Errorf("publish events: %w: maximum bytes exceeded", bus.ErrUnavailable)),
			attempt: "7",
			wantErr: bus.ErrUnavailable,
		},
		{
			name:       "a failing DLQ keeps the original for redelivery",
			handler:    fail(events.ErrUnmappable),
			attempt:    "1",
			publishErr: errors.New("dlq unavailable"),
			wantErr:    events.ErrUnmappable,
		},
		{
			name:       "a multi-line reason becomes one line",
			handler:    fail(fmt.Errorf("%w: line one\nline two\r\n", events.ErrUnmappable)),
			attempt:    "1",
			wantReason: "events: record cannot be mapped: line one line two",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recorder{err: tt.publishErr}
			mw, err := bus.DLQ(bus.DLQConfig{Publisher: pub, Stage: "normalize", MaxDeliver: 3})
			if err != nil {
				t.Fatal(err)
			}
			msg := received(tt.attempt)
			_, err = mw(tt.handler)(msg)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("handler error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantReason == "" || tt.publishErr != nil {
				if len(pub.msgs) != 0 {
					t.Fatalf("dead-lettered %v, want nothing", pub.msgs[0].Metadata)
				}
				return
			}
			if len(pub.msgs) != 1 || pub.topics[0] != "dlq.normalize.bemo" {
				t.Fatalf("published %d messages to %v, want 1 to dlq.normalize.bemo", len(pub.msgs), pub.topics)
			}
			dl := pub.msgs[0]
			if got := strings.TrimSpace(dl.Metadata.Get(bus.HeaderError)); got != tt.wantReason {
				t.Errorf("chargeline-error = %q, want %q", got, tt.wantReason)
			}
			want := map[string]string{
				bus.HeaderStage:            "normalize",
				bus.HeaderOriginalSubject:  "raw.bemo.sessions",
				bus.HeaderOriginalSequence: "42",
				bus.HeaderAttempts:         tt.attempt,
				nats.MsgIdHdr:              "dlq-normalize-42-" + msg.UUID,
			}
			for k, v := range want {
				if got := dl.Metadata.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for k, v := range msg.Metadata {
				if k != nats.MsgIdHdr && dl.Metadata.Get(k) != v {
					t.Errorf("original %s = %q not kept (got %q)", k, v, dl.Metadata.Get(k))
				}
			}
			if string(dl.Payload) != string(msg.Payload) || dl.UUID != msg.UUID {
				t.Errorf("dead letter body or id changed")
			}
			// What goes on the wire: the original headers, the DLQ ones, nothing process-internal.
			nm, err := bus.CloudEvents{}.Marshal(pub.topics[0], dl)
			if err != nil {
				t.Fatal(err)
			}
			for k := range nm.Header {
				if strings.HasPrefix(k, "_") {
					t.Errorf("internal metadata %s written as a header", k)
				}
			}
			if nm.Header.Get(nats.MsgIdHdr) != "dlq-normalize-42-"+msg.UUID {
				t.Errorf("wire Nats-Msg-Id = %q", nm.Header.Get(nats.MsgIdHdr))
			}
		})
	}
}

func fail(err error) message.HandlerFunc {
	return func(*message.Message) ([]*message.Message, error) { return nil, err }
}

func TestDLQConfig(t *testing.T) {
	for _, cfg := range []bus.DLQConfig{
		{Stage: "normalize"},
		{Publisher: &recorder{}},
		{Publisher: &recorder{}, Stage: "a.b"},
	} {
		if _, err := bus.DLQ(cfg); err == nil {
			t.Errorf("DLQ(%+v) accepted an invalid config", cfg)
		}
	}
}

func TestProviderOf(t *testing.T) {
	for subject, want := range map[string]string{
		"raw.bemo.sessions":                    "bemo",
		"events.charging_session.v1.pip":       "pip",
		"dlq.sink.mews":                        "mews",
		"something.else":                       "unknown",
		"events.charging_session.v1.pip.bogus": "unknown",
	} {
		if got := bus.ProviderOf(subject); got != want {
			t.Errorf("ProviderOf(%q) = %q, want %q", subject, got, want)
		}
	}
}
