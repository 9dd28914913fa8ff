package devstack_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// pipRecordsField is PIP with PIP_RECORDS_FIELD set in the settings devstack gives its poller.
type pipRecordsField struct {
	pip.Provider
	field string
}

func (p pipRecordsField) SimEnv(baseURL string) map[string]string {
	env := p.Provider.SimEnv(baseURL)
	env["PIP_RECORDS_FIELD"] = p.field
	return env
}

// TestFullChainPIPOtherReadings runs PIP simulator → poller → RAW → normalizer → EVENTS → sink
// → ClickHouse at the API's real page size (1,000) under readings of the seed other than the
// one the client was first written for, and compares the deduplicated rows with the
// simulator's readable sessions, id for id:
//   - the record list under "sessions", found by the client on its own, and a tie of 1,200
//     sessions sharing one completion instant served strictly a page at most: the 1,000 that
//     can be read arrive, and so does everything after the tie, and the 200 that cannot are
//     exactly one gap at that instant in poller_gaps;
//   - the list under "records", named by PIP_RECORDS_FIELD, with the simulator's default tie
//     reading (a tie of 1,003 returned whole above the limit): every session, no gap.
func TestFullChainPIPOtherReadings(t *testing.T) {
	backoff := poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}
	for _, tc := range []struct {
		name     string
		readings sim.Readings
		provider providers.Provider
		gaps     int
	}{
		{"list under sessions found, tie beyond a page", sim.Readings{RecordsKey: "sessions", TieBeyondPage: true}, pip.Provider{Backoff: backoff}, 1},
		{"list under records named by PIP_RECORDS_FIELD", sim.Readings{RecordsKey: "records"}, pipRecordsField{pip.Provider{Backoff: backoff}, "records"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The simulator makes its sessions at t0 (they complete over the days around
			// it); the clock then moves on three days, so every one has completed.
			t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
			clk := &clock{t: t0}
			s, err := devstack.Start(t.Context(), devstack.Config{
				Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 5, Records: 4000,
				PollInterval: 200 * time.Millisecond, Fresh: true, Readings: tc.readings,
				Providers: []providers.Provider{tc.provider}, Now: clk.Now,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)
			clk.Set(t0.Add(72 * time.Hour))
			truth := s.Sim.Truth()["pip"]
			if tc.gaps == 1 && (truth.Unreadable != 200 || len(truth.Gaps) != 1 || truth.Records != 3800) {
				t.Fatalf("truth: %d readable, %d unreadable, gaps %v; want 3800, 200 and one tie", truth.Records, truth.Unreadable, truth.Gaps)
			}
			if tc.gaps == 0 && (truth.Unreadable != 0 || len(truth.Gaps) != 0 || truth.Records != 4000) {
				t.Fatalf("truth: %d readable, %d unreadable, gaps %v; want all 4000", truth.Records, truth.Unreadable, truth.Gaps)
			}
			if len(truth.IDs) != truth.Records {
				t.Fatalf("truth lists %d ids for %d records", len(truth.IDs), truth.Records)
			}
			runAll(t, s)
			c := waitDone(t, s, 4*time.Minute)
			if c.DLQ != 0 {
				t.Errorf("DLQ holds %d messages, want 0", c.DLQ)
			}

			// Exactly the readable sessions, each once.
			got := sourceIDs(t, s, "charging_sessions_current", "pip")
			if !slices.Equal(got, truth.IDs) {
				t.Fatalf("ClickHouse holds %d PIP sessions, the simulator's readable ones are %d: %s", len(got), len(truth.IDs), idDiff(got, truth.IDs))
			}
			checkRawRecords(t, s, "pip", truth.Records)

			// The tie beyond the page, and only it, is a gap, recorded once however often the
			// poller came by since.
			gaps, err := poll.ListGaps(t.Context(), s.JS, "pip")
			if err != nil {
				t.Fatal(err)
			}
			if len(gaps) != tc.gaps {
				t.Fatalf("gaps %+v, want %d", gaps, tc.gaps)
			}
			for _, g := range gaps {
				at, err := time.Parse(time.RFC3339, truth.Gaps[0])
				if err != nil {
					t.Fatal(err)
				}
				if g.Kind != poll.GapTie || g.Provider != "pip" || g.Scope != pip.DefaultExport || g.Resource != pip.Resource || !g.At.Equal(at) || g.Read != 1000 {
					t.Errorf("gap %+v, want a tie of pip/posten invoicing at %s with 1000 read", g, at)
				}
				t.Logf("gap: %s", g.Describe())
			}
		})
	}
}

// idDiff describes how got differs from want (both sorted): a few ids missing and extra.
func idDiff(got, want []string) string {
	var missing, extra []string
	for _, id := range want {
		if _, ok := slices.BinarySearch(got, id); !ok {
			missing = append(missing, id)
		}
	}
	for _, id := range got {
		if _, ok := slices.BinarySearch(want, id); !ok {
			extra = append(extra, id)
		}
	}
	return fmt.Sprintf("%d missing (e.g. %v), %d extra (e.g. %v)", len(missing), missing[:min(len(missing), 3)], len(extra), extra[:min(len(extra), 3)])
}
