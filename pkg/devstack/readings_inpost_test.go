package devstack_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
)

// inpostPageSize is InPost with INPOST_PAGE_SIZE set in the settings devstack gives its poller.
type inpostPageSize struct {
	inpost.Provider
	size int
}

func (p inpostPageSize) SimEnv(baseURL string) map[string]string {
	env := p.Provider.SimEnv(baseURL)
	env["INPOST_PAGE_SIZE"] = strconv.Itoa(p.size)
	return env
}

// TestFullChainInPostOtherReadings runs InPost simulator → poller → RAW → normalizer → EVENTS
// → sink → ClickHouse under each reading of the seed's MPK list other than the one the client
// was first written for, and all of them together, and compares the cost centres in ClickHouse
// with the simulator's, id for id and field for field:
//   - count is the number of items on the page, not in the list;
//   - a page past the last serves the last page again, naming it in page;
//   - ids, count, page and per_page are JSON strings;
//   - times are in UTC with "Z" and microseconds.
//
// The poller's page size is the smallest organization's MPK count, so that organization's list
// is one full page (the client cannot tell it ended and asks for page 2, which the repeating
// reading answers with page 1 again) and the others' lists span two pages (which a count of
// the page's items, read as the total, would cut after the first). The pipeline catches up,
// then the clock moves three days on: MPKs are created and updated, and ClickHouse must again
// hold exactly the simulator's current versions, every version fetched once, and chargectl
// verify must find nothing missing or different.
func TestFullChainInPostOtherReadings(t *testing.T) {
	backoff := poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}
	for _, tc := range []struct {
		name     string
		readings sim.Readings
	}{
		{"count is the page's items", sim.Readings{InPostCountIsPageSize: true}},
		{"a page past the last repeats the last", sim.Readings{InPostRepeatLastPage: true}},
		{"ids and numbers as strings", sim.Readings{InPostStringIDs: true}},
		{"times in UTC with microseconds", sim.Readings{InPostUTCTimes: true}},
		{"all of them", sim.Readings{InPostCountIsPageSize: true, InPostRepeatLastPage: true, InPostStringIDs: true, InPostUTCTimes: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
			clk := &clock{t: t0}
			const seed, records = 17, 240
			// The stack's simulator, built again from the same options, gives each MPK as
			// served.
			twin := inpost.Provider{}.NewSimulator(sim.Options{Seed: seed, Records: records, Readings: tc.readings, Now: clk.Now})
			first := inpost.SimCostCenters(twin)
			smallest, pageSize, perOrg := smallestOrganization(first)
			for org, n := range perOrg {
				if pageSize > 100 || org != smallest && (n <= pageSize || n > 2*pageSize) {
					t.Fatalf("MPKs per organization %v: want the smallest at most the simulator's largest page (100), the others on two pages of it", perOrg)
				}
			}
			p := inpostPageSize{inpost.Provider{Backoff: backoff}, pageSize}
			s, err := devstack.Start(t.Context(), devstack.Config{
				Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: seed, Records: records,
				PollInterval: 200 * time.Millisecond, Fresh: true, Readings: tc.readings,
				Providers: []providers.Provider{p}, Now: clk.Now,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)
			if truth := s.Sim.Truth()["inpost"]; truth.Records != len(first) || !slices.Equal(truth.IDs, twin.Truth().IDs) {
				t.Fatalf("the stack's simulator holds %d MPKs, its twin %d", truth.Records, len(first))
			}

			runAll(t, s)
			waitInPostTruth(t, s, first, inpostVersions(first), 3*time.Minute)
			if n := s.Sim.Truth()["inpost"].Requests["repeated "+smallest]; tc.readings.InPostRepeatLastPage != (n > 0) {
				t.Errorf("organization %s: %d pages past the last served as the last again (reading %v): the test did not exercise the reading", smallest, n, tc.readings.InPostRepeatLastPage)
			}

			// No pause for raw_records' whole-second fetched_at: an update fetched within the
			// second of its first version ties there, and verify breaks the tie by stream_seq.
			clk.Set(t0.Add(72 * time.Hour))
			final := inpost.SimCostCenters(twin)
			versions := inpostVersions(first, final)
			// Without an update of an MPK of the first look, there would be exactly one version
			// per MPK.
			if len(final) <= len(first) || len(versions) <= len(final) {
				t.Fatalf("three days on: %d MPKs (%d at the first look), %d versions: nothing created or updated, the test checks nothing", len(final), len(first), len(versions))
			}
			t.Logf("page size %d (organization %s); first look %d MPKs %v, three days on %d, %d versions in all", pageSize, smallest, len(first), perOrg, len(final), len(versions))
			waitInPostTruth(t, s, final, versions, 3*time.Minute)

			if c, err := s.Counts(t.Context()); err != nil || c.DLQ != 0 {
				t.Errorf("DLQ holds %d messages (err %v), want 0", c.DLQ, err)
			}
			gaps, err := poll.ListGaps(t.Context(), s.JS, inpost.Name)
			if err != nil || len(gaps) != 0 {
				t.Errorf("gaps %+v (err %v), want none", gaps, err)
			}
			verifyInPost(t, s, p, t0.AddDate(0, 0, -45))
		})
	}
}

// smallestOrganization returns the organization with the fewest MPKs, how many it has, and
// the count of each.
func smallestOrganization(ccs []inpost.SimCostCenter) (string, int, map[string]int) {
	perOrg := map[string]int{}
	for _, cc := range ccs {
		perOrg[cc.Organization]++
	}
	smallest := ""
	for _, org := range inpost.SimOrganizations() {
		if smallest == "" || perOrg[org] < perOrg[smallest] {
			smallest = org
		}
	}
	return smallest, perOrg[smallest], perOrg
}

// inpostVersions returns the distinct MPK versions (id and updated_at) of the snapshots: what
// raw_records must hold once each was polled.
func inpostVersions(snapshots ...[]inpost.SimCostCenter) map[string]bool {
	out := map[string]bool{}
	for _, ccs := range snapshots {
		for _, cc := range ccs {
			out[cc.ID+"@"+cc.UpdatedAt.Format(time.RFC3339Nano)] = true
		}
	}
	return out
}

// waitInPostTruth waits until ClickHouse holds exactly want: the same ids, each row the MPK's
// current organization, name, description and times (DateTime columns hold whole seconds),
// and raw_records one row per version in versions.
func waitInPostTruth(t *testing.T, s *devstack.Stack, want []inpost.SimCostCenter, versions map[string]bool, d time.Duration) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(d); ; {
		if last = inpostVersusTruth(t, s, want, len(versions)); last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse does not hold the InPost simulator's MPKs within %s: %s", d, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// inpostVersusTruth returns "" when ClickHouse's InPost cost centres (FINAL) are exactly want,
// field for field, and raw_records holds rawWant InPost records; else what differs.
func inpostVersusTruth(t *testing.T, s *devstack.Stack, want []inpost.SimCostCenter, rawWant int) string {
	t.Helper()
	rows, err := s.Sink.Conn().Query(t.Context(), `
		SELECT id, source_id, organization_id, name, description, created_at, updated_at
		FROM chargeline.cost_centers_current WHERE provider = 'inpost' ORDER BY source_id`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	byID := map[string]inpost.SimCostCenter{}
	wantIDs := make([]string, 0, len(want))
	for _, cc := range want {
		byID[cc.ID] = cc
		wantIDs = append(wantIDs, cc.ID)
	}
	var ids, diffs []string
	for rows.Next() {
		var (
			id, sourceID, org, name, desc string
			created, updated              *time.Time
		)
		if err := rows.Scan(&id, &sourceID, &org, &name, &desc, &created, &updated); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sourceID)
		w, ok := byID[sourceID]
		if !ok || len(diffs) >= 5 {
			continue
		}
		if id != "inpost:"+w.ID || org != w.Organization || name != w.Name || desc != w.Description ||
			!sameSecond(created, w.CreatedAt) || !sameSecond(updated, w.UpdatedAt) {
			diffs = append(diffs, fmt.Sprintf("MPK %s: %s in organization %q, %q / %q, created %v, updated %v; the simulator serves organization %q, %q / %q, created %s, updated %s",
				sourceID, id, org, name, desc, created, updated, w.Organization, w.Name, w.Description, w.CreatedAt, w.UpdatedAt))
		}
	}
	if err := rows.Err(); err != nil {
		return err.Error()
	}
	if !slices.Equal(ids, wantIDs) {
		diffs = append(diffs, fmt.Sprintf("ClickHouse holds %d InPost cost centres, the simulator %d: %s", len(ids), len(wantIDs), idDiff(ids, wantIDs)))
	}
	var raw uint64
	if err := s.Sink.Conn().QueryRow(t.Context(),
		"SELECT count() FROM chargeline.raw_records FINAL WHERE provider = 'inpost'").Scan(&raw); err != nil {
		return err.Error()
	}
	if raw != uint64(rawWant) {
		diffs = append(diffs, fmt.Sprintf("raw_records holds %d InPost records, want %d (one per version polled)", raw, rawWant))
	}
	return strings.Join(diffs, "; ")
}

// sameSecond compares a DateTime('UTC') column with an instant it was written from.
func sameSecond(got *time.Time, want time.Time) bool {
	return got != nil && got.Equal(want.Truncate(time.Second))
}

// verifyInPost runs chargectl verify for p from from on the caught-up pipeline: every MPK the
// simulator serves must be in ClickHouse in the version served. The simulator's clock stands
// still, so nothing can change between the last poll and verify.
func verifyInPost(t *testing.T, s *devstack.Stack, p providers.Provider, from time.Time) {
	t.Helper()
	env := p.SimEnv(simserver.BaseURL(s.SimAddr, p.Name()))
	env["NATS_URL"], env["CLICKHOUSE_DSN"] = s.NATS.ClientURL(), s.ClickHouse.DSN()
	var stdout, stderr strings.Builder
	code := ops.Main(t.Context(), []string{"verify", "--provider", p.Name(), "--from", from.Format(time.DateOnly)}, ops.Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Providers: []providers.Provider{p},
	})
	if code != ops.ExitOK {
		t.Errorf("chargectl verify --provider %s: exit %d, want 0 on a caught-up pipeline\n%s\n%s", p.Name(), code, stdout.String(), stderr.String())
		return
	}
	t.Logf("chargectl verify --provider %s:\n%s", p.Name(), stdout.String())
}
