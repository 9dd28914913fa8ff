package devstack_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
)

// TestAllProvidersEndToEnd runs every registered provider, simulator → poller → RAW →
// normalizer → EVENTS → sink → ClickHouse, and compares each provider's deduplicated rows with
// its simulator's ground truth. Then it runs the README's analyst queries on the result.
func TestAllProvidersEndToEnd(t *testing.T) {
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 3, Records: 600,
		PollInterval: 300 * time.Millisecond, Fresh: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	runAll(t, s)

	var last string
	deadline := time.Now().Add(4 * time.Minute)
	for {
		// The simulators run on the wall clock: recompute the truth every round, so a record
		// that "arrives late" while the test runs is expected too.
		diff := rowsVersusTruth(t, s)
		if diff == "" {
			break
		}
		last = diff
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse does not match the simulators' ground truth: %s", last)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if c, err := s.Counts(t.Context()); err != nil || c.DLQ != 0 {
		t.Fatalf("DLQ holds %d messages (err %v), want 0", c.DLQ, err)
	}

	verifyEveryProvider(t, s)

	for _, q := range readmeQueries(t) {
		rows, err := s.Sink.Conn().Query(t.Context(), q)
		if err != nil {
			t.Errorf("README query fails: %v\n%s", err, q)
			continue
		}
		rows.Close()
	}
}

// rowsVersusTruth returns "" when every provider's canonical rows (FINAL) equal its
// simulator's record count, else what differs.
func rowsVersusTruth(t *testing.T, s *devstack.Stack) string {
	t.Helper()
	got := map[string]uint64{}
	for _, table := range []string{"charging_sessions", "invoices", "cost_centers"} {
		rows, err := s.Sink.Conn().Query(t.Context(), "SELECT provider, count() FROM chargeline."+table+" FINAL GROUP BY provider")
		if err != nil {
			return err.Error()
		}
		for rows.Next() {
			var p string
			var n uint64
			if err := rows.Scan(&p, &n); err != nil {
				t.Fatal(err)
			}
			got[p] += n
		}
		rows.Close()
	}
	var diffs []string
	for name, truth := range s.Sim.Truth() {
		if truth.Records == 0 {
			diffs = append(diffs, name+" simulator holds no records")
		}
		if got[name] != uint64(truth.Records) {
			diffs = append(diffs, fmt.Sprintf("%s %d rows / %d records", name, got[name], truth.Records))
		}
	}
	return strings.Join(diffs, ", ")
}

// readmeQueries returns the statements of the README's "For analysts" SQL block.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## For analysts.*?```sql\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no SQL block under ## For analysts")
	}
	var qs []string
	for _, stmt := range strings.Split(string(m[1]), ";") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			qs = append(qs, q)
		}
	}
	if len(qs) < 3 {
		t.Fatalf("README holds %d analyst queries, want at least 3", len(qs))
	}
	return qs
}

// verifyEveryProvider runs chargectl verify for each provider on the caught-up pipeline: every
// record its simulator serves must be in ClickHouse as served, with the same money. The
// simulators run on the wall clock, so a record may appear at the provider between the last
// poll and verify: a difference must go away within a few polls.
func verifyEveryProvider(t *testing.T, s *devstack.Stack) {
	t.Helper()
	from := time.Now().UTC().AddDate(0, 0, -90).Format(time.DateOnly)
	for _, p := range s.Providers() {
		env := p.SimEnv(simserver.BaseURL(s.SimAddr, p.Name()))
		env["NATS_URL"], env["CLICKHOUSE_DSN"] = s.NATS.ClientURL(), s.ClickHouse.DSN()
		var (
			code           int
			stdout, stderr strings.Builder
		)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			stdout.Reset()
			stderr.Reset()
			code = ops.Main(t.Context(), []string{"verify", "--provider", p.Name(), "--from", from}, ops.Env{
				Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Providers: s.Providers(),
			})
			if code == ops.ExitOK || time.Now().After(deadline) {
				break
			}
		}
		if code != ops.ExitOK {
			t.Errorf("chargectl verify --provider %s: exit %d, want 0 on a caught-up pipeline\n%s\n%s", p.Name(), code, stdout.String(), stderr.String())
			continue
		}
		t.Logf("chargectl verify --provider %s:\n%s", p.Name(), stdout.String())
	}
}
