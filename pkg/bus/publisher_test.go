package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
)

func streamMsgs(t *testing.T, srv *natstest.Server, stream string) uint64 {
	t.Helper()
	s, err := srv.JS.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// Publish returns after the PubAck, so the stream holds the message when it returns; the same
// ce-id published again is dropped by the duplicate window.
func TestPublisherStoresOncePerCEID(t *testing.T) {
	srv := natstest.Start(t)
	pub, err := bus.NewPublisher(srv.JS, bus.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	other := sampleEvent()
	other.ID = events.EventID("bemo", events.TypeChargingSession, "s-2", "v1")
	if err := pub.Publish(e.NATSSubject(), bus.Message(events.EventMsg(e)), bus.Message(events.EventMsg(other))); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, srv, bus.StreamEvents); got != 2 {
		t.Fatalf("EVENTS holds %d messages right after Publish, want 2", got)
	}
	if err := pub.Publish(e.NATSSubject(), bus.Message(events.EventMsg(e))); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, srv, bus.StreamEvents); got != 2 {
		t.Fatalf("EVENTS holds %d messages after a duplicate, want 2", got)
	}
}

func TestPublisherErrors(t *testing.T) {
	srv := natstest.Start(t)
	pub, err := bus.NewPublisher(srv.JS, bus.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no stream for the subject", func(t *testing.T) {
		m := message.NewMessage("id-1", []byte("{}"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.SetContext(ctx)
		if err := pub.Publish("nowhere.at.all", m); err == nil {
			t.Fatal("Publish to a subject no stream holds returned nil")
		}
	})
	t.Run("a full stream is unavailable, not the message's fault", func(t *testing.T) {
		if _, err := srv.JS.CreateStream(t.Context(), jetstream.StreamConfig{Name: "FULL", Subjects: []string{"full.>"},
			MaxBytes: 1, Discard: jetstream.DiscardNew, Storage: jetstream.MemoryStorage}); err != nil {
			t.Fatal(err)
		}
		m := message.NewMessage("id-3", []byte(`{"a":1}`))
		err := pub.Publish("full.x", m)
		if !errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("Publish to a full stream = %v, want an error wrapping ErrUnavailable", err)
		}
	})
	t.Run("a message too large for the stream is its own fault", func(t *testing.T) {
		if _, err := srv.JS.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small.>"},
			MaxMsgSize: 16, Storage: jetstream.MemoryStorage}); err != nil {
			t.Fatal(err)
		}
		err := pub.Publish("small.x", message.NewMessage("id-4", []byte(strings.Repeat("x", 64))))
		if err == nil || errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("Publish of a message over the stream's size limit = %v, want an error that is not ErrUnavailable", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		_ = pub.Close()
		if err := pub.Publish("events.x.v1.p", message.NewMessage("id-2", nil)); !errors.Is(err, bus.ErrPublisherClosed) {
			t.Fatalf("Publish after Close = %v, want ErrPublisherClosed", err)
		}
	})
}
