package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

func TestInvalidConfigExitsWithoutShowingThePassword(t *testing.T) {
	var out bytes.Buffer
	code := service.Main("sink", []string{"--http-addr", "", "--batch-rows", "0",
		"--clickhouse-dsn", "clickhouse://sink:hunter2secret@ch:9000/analytics"}, &out, pipeline.SinkSettings(), pipeline.ServeSink)
	if code != service.ExitConfig {
		t.Errorf("exit code %d, want %d", code, service.ExitConfig)
	}
	if !strings.Contains(out.String(), "--batch-rows/SINK_BATCH_ROWS") {
		t.Errorf("output does not name the bad setting:\n%s", out.String())
	}
	code = service.Main("sink", []string{"--http-addr", "", "--clickhouse-dsn", "clickhouse://sink:hunter2secret@ch:9000/analytics"}, &out, pipeline.SinkSettings(), pipeline.ServeSink)
	if code != service.ExitConfig || !strings.Contains(out.String(), "CLICKHOUSE_DSN") {
		t.Errorf("exit code %d, output:\n%s", code, out.String())
	}
	if strings.Contains(out.String(), "hunter2secret") {
		t.Errorf("output shows the password:\n%s", out.String())
	}
}

func TestRunMigratesConsumesAndStops(t *testing.T) {
	ns := natstest.Start(t)
	ch := clickhousetest.Start(t)
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v, err := config.Load(fs, []string{"--nats-url", ns.URL, "--clickhouse-dsn", ch.DSN(), "--batch-age", "20ms"},
		func(string) string { return "" }, append([][]config.Setting{service.Settings()}, pipeline.SinkSettings()...)...)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan func(context.Context) error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- pipeline.ServeSink(ctx, service.Env{Values: v, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
			Ready: func(f func(context.Context) error) { ready <- f }})
	}()
	if err := (<-ready)(t.Context()); err != nil {
		t.Fatalf("readiness: %v", err)
	}
	data := []byte(`{"schema_version":"1","id":"bemo:1","provider":"bemo","source_id":"1","account":"a","status":"completed","line_items":[],"lineage":{"raw_sequence":1}}`)
	ev := events.Event{ID: "e1", Type: events.TypeChargingSession, Provider: "bemo", Source: "/providers/bemo/a", Subject: "bemo:1", Time: time.Now(), Data: data}
	if _, err := ns.JS.PublishMsg(t.Context(), events.EventMsg(ev)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := ch.TryQueryUint64(t.Context(), "SELECT count() FROM chargeline.charging_sessions FINAL")
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row not inserted: %d, %v", n, err)
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
}
