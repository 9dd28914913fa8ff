package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
)

func TestProvisionIsIdempotentAndUpdatesRetention(t *testing.T) {
	ns := natstest.Start(t) // provisions once with the defaults
	// Again, from a second "replica", with other retention settings: updated, not refused.
	topo := bus.Topology{RawMaxAge: 48 * time.Hour, Duplicates: 10 * time.Minute, LeaseTTL: 3 * time.Second}
	for range 2 {
		if err := bus.Provision(t.Context(), ns.JS, topo); err != nil {
			t.Fatalf("Provision: %v", err)
		}
	}
	want := map[string]struct {
		subject string
		age     time.Duration
		dup     time.Duration
	}{
		bus.StreamRaw:    {"raw.>", 48 * time.Hour, 10 * time.Minute},
		bus.StreamEvents: {"events.>", 7 * 24 * time.Hour, 10 * time.Minute},
		bus.StreamDLQ:    {"dlq.>", 30 * 24 * time.Hour, 10 * time.Minute},
	}
	for name, w := range want {
		st, err := ns.JS.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		if cfg.Subjects[0] != w.subject || cfg.MaxAge != w.age || cfg.Duplicates != w.dup || cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardNew {
			t.Errorf("stream %s: subjects %v max age %s duplicates %s storage %v discard %v; want %s %s %s file, discard new",
				name, cfg.Subjects, cfg.MaxAge, cfg.Duplicates, cfg.Storage, cfg.Discard, w.subject, w.age, w.dup)
		}
	}
	for _, b := range []string{bus.BucketCheckpoints, bus.BucketLeases, bus.BucketGaps} {
		if _, err := ns.JS.KeyValue(t.Context(), b); err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
	if err := bus.CheckProvisioned(t.Context(), ns.JS); err != nil {
		t.Errorf("CheckProvisioned: %v", err)
	}
}

func TestDuplicateWindowDropsRepeatedMsgID(t *testing.T) {
	ns := natstest.Start(t)
	for range 3 {
		msg := &nats.Msg{Subject: "raw.bemo.sessions", Header: nats.Header{nats.MsgIdHdr: []string{"same-id"}}, Data: []byte("{}")}
		if _, err := ns.JS.PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := ns.JS.Stream(t.Context(), bus.StreamRaw)
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("RAW holds %d messages after 3 publishes with one Nats-Msg-Id, want 1", info.State.Msgs)
	}
}
