package chaos_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/chaos"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers"
)

// TestChaosShort is the short variant of `make chaos`: every fault of the full run on a few
// thousand records — each service killed twice, NATS restarted and killed, ClickHouse stopped
// for a few seconds, the simulators misbehaving, poison published. It fails when a record is
// lost or doubled, a money total is off, the DLQ holds anything but the poison, a consumer has
// work left, or a service does not stop cleanly on SIGTERM.
func TestChaosShort(t *testing.T) {
	sc, err := chaos.Scenarios([]string{"all"}, 2, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	results, err := chaos.Run(t.Context(), chaos.Config{
		Scenarios: sc, Records: 3000, Seed: 11, Dir: t.TempDir(), BinDir: binaries(t), SettleTimeout: 2 * time.Minute, Out: &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var details bytes.Buffer
	chaos.WriteDetails(&details, results)
	chaos.WriteTable(&details, results)
	t.Log("\n" + details.String())
	for _, r := range results {
		if !r.OK() {
			t.Errorf("scenario %s failed:\n%s\n%s", r.Scenario, strings.Join(r.Failures, "\n"), out.String())
		}
		if r.Records < 1000 || r.Poison != 10 {
			t.Errorf("scenario %s ran %d records and %d poison records, want thousands and 10", r.Scenario, r.Records, r.Poison)
		}
		if len(r.Faults) < 7*2+2 {
			t.Errorf("scenario %s injected %d faults, want at least %d:\n%s", r.Scenario, len(r.Faults), 7*2+2, strings.Join(r.Faults, "\n"))
		}
	}
}

// TestPoisonRecordsAreUnmappable: every poison record must be refused by its provider's mapping
// with events.ErrUnmappable, or the DLQ check would expect what cannot arrive.
func TestPoisonRecordsAreUnmappable(t *testing.T) {
	var names []string
	for _, p := range providers.All() {
		names = append(names, p.Name())
	}
	recs := chaos.PoisonRecords(names, time.Now())
	if len(recs) != 2*len(names) {
		t.Fatalf("%d poison records for %d providers", len(recs), len(names))
	}
	for _, r := range recs {
		p, err := providers.Lookup(r.Provider)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Map(r); !errors.Is(err, events.ErrUnmappable) {
			t.Errorf("%s: Map = %v, want events.ErrUnmappable", r.RecordID, err)
		}
	}
}

func TestScenariosRefuseUnknownNames(t *testing.T) {
	if _, err := chaos.Scenarios([]string{"kill", "flood"}, 1, time.Second); err == nil || !strings.Contains(err.Error(), "flood") {
		t.Errorf("Scenarios(flood) = %v, want an error naming it", err)
	}
}

// TestChaosClusterShort is the short variant of `make chaos ARGS=--cluster`: three NATS servers
// (streams and buckets R3), two ClickHouse replicas and ZooKeeper, a few thousand records; the
// EVENTS stream leader killed with SIGKILL and restarted, the replica the sink inserts through
// killed for seconds, ZooKeeper stopped, every service killed once, poison published. It fails
// when a record is lost or doubled through the Distributed tables or on either replica's own
// tables (FINAL), a money total is off, the DLQ holds anything but the poison, or a consumer
// has work left.
func TestChaosClusterShort(t *testing.T) {
	sc, err := chaos.Scenarios([]string{"cluster"}, 1, 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	results, err := chaos.Run(t.Context(), chaos.Config{
		Scenarios: sc, Cluster: true, Records: 3000, Seed: 12, Dir: t.TempDir(), BinDir: binaries(t), SettleTimeout: 3 * time.Minute, Out: &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var details bytes.Buffer
	chaos.WriteDetails(&details, results)
	chaos.WriteTable(&details, results)
	t.Log("\n" + details.String())
	for _, r := range results {
		if !r.OK() {
			t.Errorf("scenario %s failed:\n%s\n%s", r.Scenario, strings.Join(r.Failures, "\n"), out.String())
		}
		if r.Records < 1000 || r.Poison != 10 || len(r.Replicas) != 2 {
			t.Errorf("scenario %s ran %d records, %d poison records, compared %d replicas; want thousands, 10 and 2", r.Scenario, r.Records, r.Poison, len(r.Replicas))
		}
		faults := strings.Join(r.Faults, "\n")
		for _, want := range []string{"leader of EVENTS", "kill -9 ClickHouse replica r1", "stop ZooKeeper", "ZooKeeper started again", "replica r1 started again"} {
			if !strings.Contains(faults, want) {
				t.Errorf("scenario %s: no fault %q among:\n%s", r.Scenario, want, faults)
			}
		}
	}
}

func TestClusterScenariosNeedTheCluster(t *testing.T) {
	for _, tc := range []struct {
		names   []string
		cluster bool
	}{
		{[]string{"replica"}, false},
		{[]string{"nats"}, true},
		{[]string{"all"}, true},
	} {
		sc, err := chaos.Scenarios(tc.names, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = chaos.Run(t.Context(), chaos.Config{Scenarios: sc, Cluster: tc.cluster, Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), tc.names[0]) {
			t.Errorf("Run(%v, cluster=%v) = %v, want an error naming the scenario", tc.names, tc.cluster, err)
		}
	}
}
