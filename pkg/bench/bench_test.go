package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bench"
	"github.com/chargeline/chargeline/pkg/normalize"
)

// TestMain lets the test binary serve as the harness's infrastructure child, as services/bench
// does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bench.InfraArg {
		os.Exit(bench.ServeInfra(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// TestHarnessRunsEveryScenario runs every scenario with a few hundred records against a real
// clickhouse-server and checks that the report is complete and every count exact. It asserts no
// timing: figures from a smoke run mean nothing.
func TestHarnessRunsEveryScenario(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	cfg := bench.Config{
		Dir: t.TempDir(), SinkRecords: n, NormalizerRecords: n, PollerRecords: n, E2ERecords: n, ScalingRecords: n,
		LatencyRate: n, LatencyDuration: time.Second, RunTimeout: 5 * time.Minute, MewsExportMB: 2,
		InfraCommand: []string{exe, bench.InfraArg},
	}
	var out bytes.Buffer
	rep, err := bench.Run(t.Context(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := map[string]int{ // row name → records
		"sink: bare baseline": n, "sink: insert-only ceiling": n, "sink": n,
		"normalizer: bare baseline": n, "normalizer": n, "normalizer, schema documents": n,
		"poller: bare baseline": n, "poller": n,
		"end to end":                       n,
		"end to end, cluster":              n,
		"end to end, traced":               n,
		"latency at 300/s":                 n,
		"scaling: 1 normalizer + 1 sink":   n,
		"scaling: 2 normalizers + 2 sinks": n,
	}
	got := map[string]bench.Result{}
	for _, r := range rep.Results {
		got[r.Name] = r
	}
	for name, records := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("report has no row %q", name)
			continue
		}
		if r.Records != records || r.Seconds <= 0 || r.RecordsPerSecond <= 0 || r.PeakRSSMB <= 0 || r.CPUSecondsPer1k <= 0 {
			t.Errorf("row %q incomplete: %+v", name, r)
		}
		if !r.Baseline && !strings.HasPrefix(name, "latency") && !strings.HasPrefix(name, "end to end") && r.Ratio == nil {
			t.Errorf("row %q has no ratio to its baseline", name)
		}
		if !strings.Contains(out.String(), name) {
			t.Errorf("table does not show row %q", name)
		}
	}
	if lat := got["latency at 300/s"]; lat.P50Millis == nil || lat.P99Millis == nil || *lat.P99Millis < *lat.P50Millis {
		t.Errorf("latency row without sane percentiles: %+v", lat)
	}
	if len(rep.Inexact) > 0 {
		t.Errorf("counts not exact: %v", rep.Inexact)
	}
	exact := 0
	for _, r := range rep.Results {
		for _, c := range r.Checks {
			if c.Correctness {
				exact++
			}
		}
	}
	if exact < 22 { // sink 2, its ceiling 2, e2e 4, e2e-cluster 2+2×2, e2e-traced 4, latency 2, scaling 2×4
		t.Errorf("only %d exactly-once checks in the report", exact)
	}
	checkSinkCeiling(t, got, n)
	checkMewsExport(t, got, out.String())
	// The runs that insert report the ClickHouse servers' CPU; the cluster's is its replicas'.
	for _, name := range []string{"sink", "sink: insert-only ceiling", "end to end", "end to end, cluster"} {
		if r := got[name]; r.ClickHouseCPUSecondsPer1k <= 0 {
			t.Errorf("row %q has no ClickHouse CPU: %+v", name, r)
		}
	}
	if r := got["normalizer"]; os.Getenv("GOGC") == "" && (r.GCPercent != normalize.GCPercent || got["normalizer: bare baseline"].GCPercent != normalize.GCPercent) {
		t.Errorf("the normalizer's runs did not run at its GOGC (%d): %d, baseline %d", normalize.GCPercent, r.GCPercent, got["normalizer: bare baseline"].GCPercent)
	}
	if e2e := got["end to end"]; e2e.Ratio == nil {
		t.Errorf("end to end has no ratio to the bare stages in series: %+v", e2e)
	}
	if c := got["end to end, cluster"]; c.Ratio == nil || c.RatioTo != "end to end" {
		t.Errorf("end to end, cluster has no ratio to the single-node end to end: %+v", c)
	}
	if c := got["end to end, traced"]; c.Ratio == nil || c.RatioTo != "end to end" || !strings.Contains(strings.Join(c.Notes, " "), "OTLP requests") {
		t.Errorf("end to end, traced has no ratio to the untraced end to end, or exported nothing: %+v", c)
	}

	b, err := os.ReadFile(cfg.Dir + "/report.json")
	if err != nil {
		t.Fatal(err)
	}
	var saved bench.Report
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if len(saved.Results) != len(rep.Results) || saved.ClickHouse == "" || saved.GOMAXPROCS == 0 {
		t.Errorf("report.json incomplete: %d results, clickhouse %q, gomaxprocs %d", len(saved.Results), saved.ClickHouse, saved.GOMAXPROCS)
	}
	if !strings.Contains(string(b), `"ceiling_ratio"`) {
		t.Error("report.json has no ceiling_ratio")
	}
	if !strings.Contains(out.String(), "to ceiling") {
		t.Error("table has no column for the ratio to the ceiling")
	}
}

// checkSinkCeiling checks the sink scenario's insert-only ceiling: a baseline row of its own
// whose count() of charging_sessions was exactly the records and whose rows were the sink's, and
// the sink's ratio and target against it beside its ratio to the bare loop.
func checkSinkCeiling(t *testing.T, got map[string]bench.Result, n int) {
	t.Helper()
	const name = "sink: insert-only ceiling"
	ceil, ok := got[name]
	if !ok {
		return // reported missing already
	}
	if !ceil.Baseline {
		t.Errorf("%s is not a baseline: %+v", name, ceil)
	}
	wantChecks := map[string]bool{ // name → seen passing
		fmt.Sprintf("count() charging_sessions = %d", n): false,
		"rows = the sink's (hash of every column)":       false,
	}
	for _, c := range ceil.Checks {
		if _, ok := wantChecks[c.Name]; ok && c.Pass && c.Correctness {
			wantChecks[c.Name] = true
		}
	}
	for c, pass := range wantChecks {
		if !pass {
			t.Errorf("%s: check %q missing or failed: %+v", name, c, ceil.Checks)
		}
	}
	svc := got["sink"]
	if svc.CeilingRatio == nil || svc.CeilingTo != name {
		t.Errorf("sink has no ratio to %s: %+v", name, svc)
	}
	if svc.Ratio == nil || svc.RatioTo != "sink: bare baseline" {
		t.Errorf("sink lost its ratio to the bare baseline: %+v", svc)
	}
	var target bool
	for _, c := range svc.Checks {
		target = target || c.Name == "≥ 0.8× insert-only ceiling"
	}
	if !target {
		t.Errorf("sink has no target against %s: %+v", name, svc.Checks)
	}
}

// checkMewsExport checks the mews-export scenario's row: every bill of the export on RAW and the
// peak RSS target, both present and (the count) passing.
func checkMewsExport(t *testing.T, got map[string]bench.Result, table string) {
	t.Helper()
	const name = "poller: mews export"
	r, ok := got[name]
	if !ok {
		t.Errorf("report has no row %q", name)
		return
	}
	if r.Scenario != bench.ScenarioMewsExport || r.Records < 1000 || r.Seconds <= 0 || r.PeakRSSMB <= 0 || r.CPUSecondsPer1k <= 0 {
		t.Errorf("row %q incomplete (a 2 MB export holds over a thousand bills): %+v", name, r)
	}
	var count, rss bool
	for _, c := range r.Checks {
		switch {
		case c.Correctness && c.Name == fmt.Sprintf("RAW messages = %d", r.Records):
			count = c.Pass
			if !c.Pass {
				t.Errorf("%s: %+v", name, c)
			}
		case !c.Correctness && strings.HasPrefix(c.Name, "peak RSS ≤ 64 MB"):
			rss = true
		}
	}
	if !count || !rss {
		t.Errorf("%s: the RAW count check (passing) or the peak RSS check is missing: %+v", name, r.Checks)
	}
	if !strings.Contains(strings.Join(r.Notes, " "), "MB/s streamed") {
		t.Errorf("%s: no note of the bytes streamed: %v", name, r.Notes)
	}
	if !strings.Contains(table, name) {
		t.Errorf("table does not show row %q", name)
	}
}
