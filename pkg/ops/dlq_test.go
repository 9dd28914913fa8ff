package ops_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/ops"
)

// deadLetter stores msg in the DLQ as the normalizer or the sink would: original headers and
// body plus the chargeline DLQ headers.
func deadLetter(t *testing.T, js jetstream.JetStream, stage, provider string, msg *nats.Msg, origSeq uint64, reason string) uint64 {
	t.Helper()
	h := nats.Header{}
	for k, v := range msg.Header {
		h[k] = v
	}
	h[bus.HeaderError] = []string{reason}
	h[bus.HeaderStage] = []string{stage}
	h[bus.HeaderOriginalSubject] = []string{msg.Subject}
	h[bus.HeaderOriginalSequence] = []string{fmt.Sprint(origSeq)}
	h[bus.HeaderAttempts] = []string{"1"}
	h[nats.MsgIdHdr] = []string{"dlq-" + stage + "-" + msg.Header.Get(events.HeaderID)}
	ack, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: "dlq." + stage + "." + provider, Header: h, Data: msg.Data})
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// messages returns every message of a stream on subject.
func messages(t *testing.T, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			continue // deleted
		}
		if subject == "" || m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func TestDLQListShowReplay(t *testing.T) {
	ns := natstest.Start(t)
	c := newCLI(map[string]string{"NATS_URL": ns.URL})

	raw := events.Raw{ID: events.RawID("bemo", "sessions", "s-1", []byte(`{"sessionId":"s-1"`)), Provider: "bemo", Resource: "sessions",
		Scope: "acc-1", RecordID: "s-1", FetchedAt: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC), Data: []byte(`{"sessionId":"s-1"`)}
	poison := deadLetter(t, ns.JS, "normalize", "bemo", events.RawMsg(raw), 41, "events: record cannot be mapped: unexpected end of JSON input")
	ev := &nats.Msg{Subject: "events.charging_session.v1.pip", Header: nats.Header{
		events.HeaderID: {"ev-1"}, events.HeaderType: {"io.chargeline.charging_session.v1"}, nats.MsgIdHdr: {"ev-1"},
	}, Data: []byte(`{"id":"pip:1","lineage":{"raw_id":"r-1"}}`)}
	refused := deadLetter(t, ns.JS, "sink", "pip", ev, 7, "code: 69, message: Decimal value is too big")

	var list ops.DLQReport
	c.json(t, ops.ExitOK, &list, "dlq", "list")
	if list.Total != 2 || len(list.DeadLetters) != 2 {
		t.Fatalf("list = %+v, want 2 dead letters", list)
	}
	if d := list.DeadLetters[0]; d.Seq != poison || d.Stage != "normalize" || d.Provider != "bemo" || d.OriginalSubject != "raw.bemo.sessions" ||
		d.OriginalSeq != 41 || d.CEID != raw.ID || !strings.Contains(d.Error, "cannot be mapped") || d.Body != nil {
		t.Errorf("first dead letter = %+v", d)
	}
	c.json(t, ops.ExitOK, &list, "dlq", "list", "--stage=sink")
	if list.Total != 1 || list.DeadLetters[0].Seq != refused || list.DeadLetters[0].Provider != "pip" {
		t.Errorf("list --stage=sink = %+v", list)
	}
	c.json(t, ops.ExitOK, &list, "dlq", "list", "--provider=bemo", "--stage=sink")
	if list.Total != 0 {
		t.Errorf("list --provider=bemo --stage=sink = %+v, want none", list)
	}
	c.json(t, ops.ExitOK, &list, "dlq", "list", "--limit=1")
	if list.Total != 2 || len(list.DeadLetters) != 1 {
		t.Errorf("list --limit=1 = %+v, want 1 of 2", list)
	}
	table := c.must(t, ops.ExitOK, "dlq", "list").stdout
	t.Logf("chargectl dlq list:\n%s", table)
	if !strings.Contains(table, "raw.bemo.sessions") || !strings.Contains(table, "Decimal value is too big") {
		t.Errorf("list table:\n%s", table)
	}

	var shown ops.DeadLetter
	c.json(t, ops.ExitOK, &shown, "dlq", "show", fmt.Sprintf("--seq=%d", poison))
	if shown.Body == nil || *shown.Body != `{"sessionId":"s-1"` || shown.Headers[bus.HeaderOriginalSubject][0] != "raw.bemo.sessions" ||
		shown.Headers[events.HeaderScope][0] != "acc-1" {
		t.Errorf("show = %+v", shown)
	}
	show := c.must(t, ops.ExitOK, "dlq", "show", fmt.Sprintf("--seq=%d", poison)).stdout
	if !strings.Contains(show, "chargeline-error") || !strings.Contains(show, `{"sessionId":"s-1"`) {
		t.Errorf("show table:\n%s", show)
	}
	c.must(t, ops.ExitUsage, "dlq", "show", "--seq=99")

	var rep ops.ReplayReport
	c.json(t, ops.ExitOK, &rep, "dlq", "replay", "--provider=bemo", "--dry-run")
	if len(rep.Results) != 1 || rep.Results[0].Result != "would-replay" || len(messages(t, ns.JS, bus.StreamRaw, "")) != 0 {
		t.Fatalf("dry run = %+v", rep)
	}

	c.json(t, ops.ExitOK, &rep, "dlq", "replay", "--provider=bemo")
	if rep.Replayed != 1 || rep.Results[0].Result != "replayed" || rep.Results[0].Stream != "RAW" {
		t.Fatalf("replay = %+v", rep)
	}
	onRaw := messages(t, ns.JS, bus.StreamRaw, "raw.bemo.sessions")
	if len(onRaw) != 1 {
		t.Fatalf("RAW holds %d copies of the replayed record, want 1", len(onRaw))
	}
	m := onRaw[0]
	if string(m.Data) != string(raw.Data) || m.Header.Get(events.HeaderID) != raw.ID || m.Header.Get(events.HeaderScope) != "acc-1" ||
		m.Header.Get(nats.MsgIdHdr) != fmt.Sprintf("replay-%d-%s", poison, raw.ID) {
		t.Errorf("replayed message: %q %v", m.Data, m.Header)
	}
	for _, h := range []string{bus.HeaderError, bus.HeaderStage, bus.HeaderOriginalSubject, bus.HeaderOriginalSequence, bus.HeaderAttempts} {
		if m.Header.Get(h) != "" {
			t.Errorf("replayed message still carries %s", h)
		}
	}
	if left := messages(t, ns.JS, bus.StreamDLQ, ""); len(left) != 1 || left[0].Sequence != refused {
		t.Fatalf("DLQ after replaying the bemo dead letter holds %d messages, want only the sink's", len(left))
	}

	// A republish that JetStream refuses leaves the dead letter where it is: EVENTS is full
	// (one message at most, discard new) while the sink's dead letter is replayed.
	fill, err := ns.JS.PublishMsg(t.Context(), &nats.Msg{Subject: "events.charging_session.v1.pip", Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	setMaxMsgs(t, ns.JS, bus.StreamEvents, 1)
	r := c.json(t, ops.ExitFailure, &rep, "dlq", "replay", fmt.Sprintf("--seq=%d", refused))
	if rep.Failed != 1 || !strings.Contains(rep.Results[0].Reason, "not acknowledged") {
		t.Fatalf("replay into a full stream = %+v\n%s", rep, r.stderr)
	}
	if left := messages(t, ns.JS, bus.StreamDLQ, ""); len(left) != 1 {
		t.Fatalf("a refused republish removed the dead letter")
	}
	setMaxMsgs(t, ns.JS, bus.StreamEvents, -1)
	c.json(t, ops.ExitOK, &rep, "dlq", "replay", "--stage=sink")
	if rep.Replayed != 1 {
		t.Fatalf("replay = %+v", rep)
	}
	onEvents := messages(t, ns.JS, bus.StreamEvents, "events.charging_session.v1.pip")
	if len(onEvents) != 2 || onEvents[0].Sequence != fill.Sequence || onEvents[1].Header.Get(events.HeaderID) != "ev-1" {
		t.Fatalf("EVENTS after the replay: %d messages", len(onEvents))
	}
	if left := messages(t, ns.JS, bus.StreamDLQ, ""); len(left) != 0 {
		t.Fatalf("DLQ still holds %d messages", len(left))
	}
	c.json(t, ops.ExitOK, &rep, "dlq", "replay", "--all")
	if len(rep.Results) != 0 {
		t.Fatalf("replay of an empty DLQ = %+v", rep)
	}
}

func setMaxMsgs(t *testing.T, js jetstream.JetStream, stream string, n int64) {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = n
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
}
