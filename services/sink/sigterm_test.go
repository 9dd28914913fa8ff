package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/process"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// buildSink compiles this command into a temporary directory: the shutdown test signals the
// real process, as an orchestrator would.
func buildSink(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := process.Build(t.Context(), "", dir, "./services/sink"); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "sink")
}

// TestSIGTERMDuringABatchFlushesAcksAndExits: the sink holds a whole batch it has fetched but
// not inserted (its age limit is an hour away) when SIGTERM arrives. It must stop fetching,
// insert the batch, acknowledge every message and exit 0 within its shutdown timeout.
func TestSIGTERMDuringABatchFlushesAcksAndExits(t *testing.T) {
	bin := buildSink(t)
	ns := natstest.Start(t)
	ch := clickhousetest.Start(t)
	ctx := t.Context()
	if err := bus.Provision(ctx, ns.JS, bus.Topology{}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		id := fmt.Sprintf("bemo:%d", i)
		data := fmt.Appendf(nil, `{"schema_version":"1","id":%q,"provider":"bemo","source_id":"%d","account":"a","status":"completed","line_items":[],"lineage":{"raw_sequence":%d}}`, id, i, i+1)
		ev := events.Event{ID: fmt.Sprintf("e%d", i), Type: events.TypeChargingSession, Provider: "bemo", Source: "/providers/bemo/a", Subject: id, Time: time.Now(), Data: data}
		if _, err := ns.JS.PublishMsgAsync(events.EventMsg(ev)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ns.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("events not published")
	}

	logPath := filepath.Join(t.TempDir(), "sink.log")
	p := process.New(process.Config{Name: "sink", Bin: bin, Logf: t.Logf, LogPath: logPath, Args: []string{
		"--http-addr=", "--nats-url", ns.URL, "--clickhouse-dsn", ch.DSN(),
		"--batch-rows", "100000", "--batch-age", "1h", "--sink-ack-wait", "2h", "--sink-shutdown-timeout", "20s",
	}})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(time.Second) })
	output := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}

	// Wait until the sink holds every event unacknowledged and nothing is inserted.
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := consumerInfo(ctx, ns.JS)
		if err == nil && info.NumAckPending == n && info.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not fetch the batch: %+v, %v\n%s", info, err, output())
		}
		select {
		case <-p.Done():
			t.Fatalf("sink exited early: %s\n%s", p.State(), output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if rows := ch.QueryUint64(t, "SELECT count() FROM chargeline.charging_sessions"); rows != 0 {
		t.Fatalf("%d rows inserted before SIGTERM; the test needs the batch held", rows)
	}

	// Stop sends SIGTERM and waits for the exit; SIGKILL only after twice the shutdown timeout.
	took, err := p.Stop(40 * time.Second)
	switch {
	case errors.Is(err, process.ErrStopTimeout):
		t.Fatalf("sink still running 40s after SIGTERM (shutdown timeout 20s)\n%s", output())
	case err != nil:
		t.Fatalf("sink %v after SIGTERM, want exit 0\n%s", err, output())
	}
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	if rows := ch.QueryUint64(t, "SELECT count() FROM chargeline.charging_sessions FINAL"); rows != n {
		t.Errorf("%d rows after shutdown, want %d: the held batch must be inserted", rows, n)
	}
	info, err := consumerInfo(ctx, ns.JS)
	if err != nil || info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer after shutdown: %+v, %v; want nothing pending: every inserted row acknowledged", info, err)
	}
}

func consumerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, bus.StreamEvents, "sink-events")
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}
