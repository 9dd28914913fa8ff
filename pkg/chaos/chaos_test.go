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
