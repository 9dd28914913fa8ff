package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
)

// PublishMsgs returns after every PubAck; a repeated ce-id is dropped by the duplicate window; a
// subject no stream holds is an error; after Close nothing is published.
func TestPublishMsgs(t *testing.T) {
	srv := natstest.Start(t)
	pub, err := bus.NewPublisher(srv.JS, bus.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	other := sampleEvent()
	other.ID = events.EventID("bemo", events.TypeChargingSession, "s-2", "v1")
	if err := pub.PublishMsgs(t.Context(), events.EventMsg(e), events.EventMsg(other), events.EventMsg(e)); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, srv, bus.StreamEvents); got != 2 {
		t.Fatalf("EVENTS holds %d messages right after PublishMsgs, want 2", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := pub.PublishMsgs(ctx, &nats.Msg{Subject: "nowhere.at.all", Data: []byte("{}")}); err == nil {
		t.Error("PublishMsgs to a subject no stream holds returned nil")
	}
	_ = pub.Close()
	if err := pub.PublishMsgs(t.Context(), events.EventMsg(e)); !errors.Is(err, bus.ErrPublisherClosed) {
		t.Errorf("PublishMsgs after Close = %v, want ErrPublisherClosed", err)
	}
}
