package devstack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
)

// TestOversizedRecordIsAGapAndItsScopeMovesOn serves one Be-Mo session, in the middle of a
// page, larger than NATS's max payload. Before, every publish of it failed, the poll failed,
// and the next poll met it again: nothing after it ever arrived. Now it is a gap: recorded,
// its bytes kept in the object store, and every other session lands; verify names it.
func TestOversizedRecordIsAGapAndItsScopeMovesOn(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}}
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 13, Records: 600,
		PollInterval: 200 * time.Millisecond, Fresh: true, Readings: sim.Readings{OversizedBytes: 3 << 20 / 2},
		Providers: []providers.Provider{p}, Now: clk.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	clk.Set(t0.Add(48 * time.Hour))
	truth := s.Sim.Truth()["bemo"]
	if len(truth.Oversized) != 1 || truth.Records != 600 {
		t.Fatalf("simulator: %d records, oversized %v; want 600 and one", truth.Records, truth.Oversized)
	}
	big := truth.Oversized[0]
	runAll(t, s)

	want := slices.DeleteFunc(slices.Clone(truth.IDs), func(id string) bool { return id == big })
	var got []string
	waitFor(t, 3*time.Minute, func() bool {
		got = sourceIDs(t, s, "charging_sessions FINAL", "bemo")
		return slices.Equal(got, want)
	})

	gaps, err := poll.ListGaps(t.Context(), s.JS, "bemo")
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 {
		t.Fatalf("gaps = %+v, want the one oversized session", gaps)
	}
	g := gaps[0]
	if g.Kind != poll.GapOversized || g.RecordID != big || g.Resource != "sessions" || g.Size <= g.Limit || g.Limit != int(s.NC.MaxPayload()) {
		t.Fatalf("gap = %+v, want oversized session %s above the %d-byte max payload", g, big, s.NC.MaxPayload())
	}
	obj, err := s.JS.ObjectStore(t.Context(), bus.ObjectsOversized)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := obj.GetBytes(t.Context(), g.Object)
	if err != nil {
		t.Fatalf("the oversized session's bytes are not retrievable: %v", err)
	}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(kept, &session); err != nil || session.SessionID != big || len(kept) < 3<<20/2 {
		t.Fatalf("object %s holds %d bytes (session %q, %v), want session %s as served", g.Object, len(kept), session.SessionID, err, big)
	}

	// verify: every session but the oversized one matches; it is missing, and the gap explains it.
	env := p.SimEnv(simserver.BaseURL(s.SimAddr, "bemo"))
	env["NATS_URL"], env["CLICKHOUSE_DSN"] = s.NATS.ClientURL(), s.ClickHouse.DSN()
	var stdout, stderr strings.Builder
	code := ops.Main(t.Context(), []string{"verify", "--provider", "bemo", "--from", "2026-10-01", "--json"}, ops.Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Providers: []providers.Provider{p}, Now: clk.Now,
	})
	if code != ops.ExitDifferences {
		t.Fatalf("chargectl verify exit %d, want %d\n%s\n%s", code, ops.ExitDifferences, stdout.String(), stderr.String())
	}
	var rep ops.VerifyReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Records != 600 || len(rep.Gaps) != 1 || len(rep.Different) != 0 {
		t.Fatalf("verify: %d records, gaps %+v, different %+v; want 600, the one gap, none", rep.Records, rep.Gaps, rep.Different)
	}
	for _, m := range rep.Missing {
		if m.RecordID != big {
			t.Errorf("verify names %s/%s missing (%s); only %s is", m.Resource, m.RecordID, m.Reason, big)
		}
	}
	if len(rep.Missing) == 0 {
		t.Error("verify does not name the oversized session as missing")
	}
}
