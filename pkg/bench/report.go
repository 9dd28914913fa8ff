package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrTargetMissed is returned by Run, when Config.FailOnMiss is set, if a measured figure missed
// its target. The report is complete all the same.
var ErrTargetMissed = errors.New("bench: target missed")

// ErrNotExact is returned by Run when a scenario's rows in ClickHouse are not exactly its
// records (a record lost or duplicated): a correctness failure, whatever FailOnMiss says.
var ErrNotExact = errors.New("bench: records not exactly once in ClickHouse")

// Report is the JSON report of one harness run.
type Report struct {
	Started    time.Time `json:"started"`
	Seconds    float64   `json:"seconds"`
	GoVersion  string    `json:"go_version"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	ClickHouse string    `json:"clickhouse_version"`
	Config     Config    `json:"config"`
	Results    []Result  `json:"results"`
	// Missed lists "<row>: <check>" for every target missed; Inexact the rows whose counts were
	// not exact.
	Missed  []string `json:"missed"`
	Inexact []string `json:"inexact"`
	// Failed lists the scenarios that could not complete, with the reason.
	Failed []string `json:"failed"`
}

// Result is one row: a service run or its baseline.
type Result struct {
	Scenario         string  `json:"scenario"`
	Name             string  `json:"name"`
	Baseline         bool    `json:"baseline"`
	Records          int     `json:"records"`
	Seconds          float64 `json:"seconds"`
	RecordsPerSecond float64 `json:"records_per_second"`
	// P50Millis and P99Millis: raw publish → row visible in ClickHouse (latency run only).
	P50Millis *float64 `json:"p50_ms,omitempty"`
	P99Millis *float64 `json:"p99_ms,omitempty"`
	// PeakRSSMB is this whole process's peak resident set during the run (VmHWM after a reset):
	// the components under test plus the harness's own bookkeeping; NATS and the simulated
	// provider run in a child process, ClickHouse in its own.
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// PeakRSSSinceStart is true when the kernel refused the reset: the peak is since the
	// process started.
	PeakRSSSinceStart bool `json:"peak_rss_since_start,omitempty"`
	// CPUSecondsPer1k is this process's CPU time (user+system, getrusage) per 1,000 records;
	// InfraCPUSecondsPer1k the NATS child's.
	CPUSecondsPer1k      float64 `json:"cpu_seconds_per_1k"`
	InfraCPUSecondsPer1k float64 `json:"infra_cpu_seconds_per_1k"`
	// ClickHouseCPUSecondsPer1k is the ClickHouse servers' CPU time (inserts and the merges
	// running meanwhile) per 1,000 records, beside the pipeline's.
	ClickHouseCPUSecondsPer1k float64 `json:"clickhouse_cpu_seconds_per_1k"`
	// GCPercent is the garbage collector's target (GOGC) the run's process had.
	GCPercent int `json:"gc_percent"`
	// Load1 is the machine's 1-minute load average when the run ended (2 cores: above 2, other
	// work competed for them).
	Load1 float64 `json:"load1"`
	// Ratio is RecordsPerSecond divided by the rate of RatioTo, measured in the same run.
	Ratio   *float64 `json:"ratio,omitempty"`
	RatioTo string   `json:"ratio_to,omitempty"`
	// CeilingRatio is RecordsPerSecond divided by the rate of CeilingTo, a ceiling measured in
	// the same run that does only the last part of the work, with everything before it done
	// ahead of the measured time (the sink's: its rows, prebuilt, only inserted).
	CeilingRatio *float64 `json:"ceiling_ratio,omitempty"`
	CeilingTo    string   `json:"ceiling_ratio_to,omitempty"`
	Checks       []Check  `json:"checks,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// Check is a target (from the issue) or a correctness condition, and how the run fared.
type Check struct {
	Name        string  `json:"name"` // e.g. "ratio ≥ 0.9"
	Got         float64 `json:"got"`
	Pass        bool    `json:"pass"`
	Correctness bool    `json:"correctness,omitempty"` // exactly-once counts: never waived
}

func newResult(scenario, name string, records int, s sample) Result {
	r := Result{
		Scenario: scenario, Name: name, Records: records, Seconds: round(s.seconds, 3),
		PeakRSSMB: round(float64(s.peakRSS)/(1<<20), 1), PeakRSSSinceStart: !s.hwmReset, Load1: s.load,
	}
	if s.seconds > 0 {
		r.RecordsPerSecond = round(float64(records)/s.seconds, 0)
	}
	if records > 0 {
		r.CPUSecondsPer1k = round(s.cpu.Seconds()*1000/float64(records), 4)
		r.InfraCPUSecondsPer1k = round(s.infraCPU.Seconds()*1000/float64(records), 4)
		r.ClickHouseCPUSecondsPer1k = round(s.chCPU.Seconds()*1000/float64(records), 4)
	}
	return r
}

// ratio sets r's ratio to base's rate.
func (r *Result) ratio(base Result) {
	if base.RecordsPerSecond <= 0 {
		return
	}
	v := round(r.RecordsPerSecond/base.RecordsPerSecond, 3)
	r.Ratio, r.RatioTo = &v, base.Name
}

// ceiling sets r's ceiling ratio to c's rate.
func (r *Result) ceiling(c Result) {
	if c.RecordsPerSecond <= 0 {
		return
	}
	v := round(r.RecordsPerSecond/c.RecordsPerSecond, 3)
	r.CeilingRatio, r.CeilingTo = &v, c.Name
}

// atLeast and atMost add target checks.
func (r *Result) atLeast(name string, got, want float64) {
	r.Checks = append(r.Checks, Check{Name: name, Got: got, Pass: got >= want})
}

func (r *Result) atMost(name string, got, want float64) {
	r.Checks = append(r.Checks, Check{Name: name, Got: got, Pass: got <= want})
}

// exact adds a correctness check: got must equal want.
func (r *Result) exact(name string, got, want uint64) {
	r.Checks = append(r.Checks, Check{Name: fmt.Sprintf("%s = %d", name, want), Got: float64(got), Pass: got == want, Correctness: true})
}

func (r *Result) note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func newReport(cfg Config, chVersion string) *Report {
	return &Report{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), ClickHouse: chVersion, Config: cfg, Missed: []string{}, Inexact: []string{}, Failed: []string{},
	}
}

func (rep *Report) add(rs ...Result) {
	for _, r := range rs {
		rep.Results = append(rep.Results, r)
		for _, c := range r.Checks {
			switch {
			case c.Pass:
			case c.Correctness:
				rep.Inexact = append(rep.Inexact, r.Name+": "+c.Name+fmt.Sprintf(" (got %g)", c.Got))
			default:
				rep.Missed = append(rep.Missed, r.Name+": "+c.Name+fmt.Sprintf(" (got %g)", c.Got))
			}
		}
	}
}

// write stores the report as indented JSON at path.
func (rep *Report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	return nil
}

// Table writes the report as a text table: one row per run, targets with pass or MISS.
func (rep *Report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\trecords\ts\trecords/s\tp50 ms\tp99 ms\tpeak RSS MB\tCPU s/1k\tNATS CPU s/1k\tClickHouse CPU s/1k\tload\tratio\tto ceiling\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.1f\t%s\t%s\t\n", r.Name, r.Records, r.Seconds, r.RecordsPerSecond,
			millis(r.P50Millis), millis(r.P99Millis), r.PeakRSSMB, r.CPUSecondsPer1k, r.InfraCPUSecondsPer1k, r.ClickHouseCPUSecondsPer1k, r.Load1,
			times(r.Ratio), times(r.CeilingRatio))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		if len(r.Checks) == 0 {
			continue
		}
		var parts []string
		for _, c := range r.Checks {
			verdict := "pass"
			if !c.Pass {
				verdict = "MISS"
				if c.Correctness {
					verdict = "FAIL"
				}
			}
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", c.Name, verdict, trimFloat(c.Got)))
		}
		fmt.Fprintf(w, "%-22s %s\n", r.Name, strings.Join(parts, " · "))
	}
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note %s: %s\n", r.Name, n)
		}
	}
}

// times formats a ratio, "-" for none.
func times(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

func millis(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *v)
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
