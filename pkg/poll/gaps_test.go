package poll_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/poll"
)

// listSource serves its records in one scope; the checkpoint is the index of the next one.
type listSource struct {
	records []poll.Record
	froms   []poll.Checkpoint
}

func (s *listSource) Scopes(context.Context) ([]string, error) { return []string{"acc 1"}, nil }

func (s *listSource) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	s.froms = append(s.froms, from)
	start, _ := strconv.Atoi(string(from))
	for i := start; i < len(s.records); i++ {
		r := s.records[i]
		r.Next = poll.Checkpoint(strconv.Itoa(i + 1))
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

func record(id string, data []byte) poll.Record {
	return poll.Record{Resource: "things", ID: id, Data: data}
}

func small(i int) poll.Record {
	return record(strconv.Itoa(i), []byte(`{"n":`+strconv.Itoa(i)+`}`))
}

func gapsOf(t *testing.T, js jetstream.JetStream) []poll.Gap {
	t.Helper()
	gaps, err := poll.ListGaps(t.Context(), js, "fake")
	if err != nil {
		t.Fatal(err)
	}
	return gaps
}

func TestOversizedRecordIsAGapKeptInTheObjectStoreAndTheScopeMovesOn(t *testing.T) {
	ns := natstest.Start(t)
	limit := int(ns.NC.MaxPayload())
	big := []byte(`{"id":"big","pad":"` + strings.Repeat("x", limit) + `"}`)
	src := &listSource{}
	for i := range 10 {
		src.records = append(src.records, small(i))
	}
	src.records[5] = record("big", big) // in the middle of the scope
	reg := prometheus.NewRegistry()
	s, err := poll.NewScheduler(t.Context(), poll.Config{Provider: "fake", Window: 4}, src, ns.JS, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v (an oversized record must not fail the poll)", err)
	}
	if got := rawCount(t, ns.JS); got != 9 {
		t.Fatalf("RAW holds %d messages, want the 9 that fit", got)
	}
	if got := checkpoint(t, ns.JS); got != "10" {
		t.Fatalf("checkpoint = %q, want 10: the scope moves on past the oversized record", got)
	}
	gaps := gapsOf(t, ns.JS)
	if len(gaps) != 1 {
		t.Fatalf("gaps = %+v, want one", gaps)
	}
	g := gaps[0]
	if g.Kind != poll.GapOversized || g.Provider != "fake" || g.Scope != "acc 1" || g.Resource != "things" || g.RecordID != "big" || g.Size <= limit || g.Limit != limit || g.Object == "" || g.Found.IsZero() {
		t.Fatalf("gap = %+v, want oversized fake/acc 1 things big, size > %d", g, limit)
	}
	obj, err := ns.JS.ObjectStore(t.Context(), bus.ObjectsOversized)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := obj.GetBytes(t.Context(), g.Object)
	if err != nil {
		t.Fatalf("the oversized record's bytes are not retrievable: %v", err)
	}
	if !bytes.Equal(kept, big) {
		t.Fatalf("object store holds %d bytes, want the record's %d exactly", len(kept), len(big))
	}
	if got := counterSum(t, reg, "chargeline_poller_gaps_total"); got != 1 {
		t.Fatalf("chargeline_poller_gaps_total = %v, want 1", got)
	}

	// The same record met again (a backfill, a reset checkpoint) rewrites its one gap.
	src.records = src.records[:6]
	if err := kvOf(t, ns.JS, bus.BucketCheckpoints).Delete(t.Context(), poll.Key("fake", "acc 1")); err != nil {
		t.Fatal(err)
	}
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := gapsOf(t, ns.JS); len(again) != 1 || !again[0].Found.Equal(g.Found) {
		t.Fatalf("gaps after meeting the record again = %+v, want the one gap with its first Found time", again)
	}
}

func TestRecordAboveTheStreamsMaximumMessageSizeIsAGap(t *testing.T) {
	ns := natstest.Start(t)
	st, err := ns.JS.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 2048 // the server refuses it in the PubAck: the asynchronous path
	if _, err := ns.JS.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	src := &listSource{records: []poll.Record{small(0), small(1), record("wide", []byte(`{"pad":"`+strings.Repeat("y", 4096)+`"}`)), small(3)}}
	s := newScheduler(t, ns.JS, src, poll.Config{Backoff: poll.Backoff{Initial: time.Millisecond, MaxAttempts: 2}})
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if got := rawCount(t, ns.JS); got != 3 {
		t.Fatalf("RAW holds %d messages, want 3", got)
	}
	if got := checkpoint(t, ns.JS); got != "4" {
		t.Fatalf("checkpoint = %q, want 4", got)
	}
	if gaps := gapsOf(t, ns.JS); len(gaps) != 1 || gaps[0].RecordID != "wide" || gaps[0].Kind != poll.GapOversized {
		t.Fatalf("gaps = %+v, want one oversized gap for record wide", gaps)
	}
}

func TestSourceGapIsRecordedBeforeTheCheckpointPassesIt(t *testing.T) {
	ns := natstest.Start(t)
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	src := &listSource{records: []poll.Record{
		small(0),
		{Gap: &poll.Gap{Kind: poll.GapTie, Resource: "things", At: at, Read: 1000, Detail: "a full page at one instant"}},
		small(2),
	}}
	s := newScheduler(t, ns.JS, src, poll.Config{})
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := checkpoint(t, ns.JS); got != "3" {
		t.Fatalf("checkpoint = %q, want 3", got)
	}
	if got := rawCount(t, ns.JS); got != 2 {
		t.Fatalf("RAW holds %d messages, want 2 (a gap is not a record)", got)
	}
	gaps := gapsOf(t, ns.JS)
	if len(gaps) != 1 || gaps[0].Kind != poll.GapTie || !gaps[0].At.Equal(at) || gaps[0].Read != 1000 || gaps[0].Scope != "acc 1" {
		t.Fatalf("gaps = %+v, want the tie at %s with 1000 read", gaps, at)
	}
	if !strings.Contains(gaps[0].Describe(), "2026-11-03T10:00:00Z") {
		t.Fatalf("Describe() = %q, want the instant", gaps[0].Describe())
	}
}

func kvOf(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// counterSum adds up every child of the counter family name in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
