package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestCompareFindsLostAndDoubledRecords checks the verdict on made-up measurements: the short
// chaos test can only fail on a lost or doubled record if compare sees one.
func TestCompareFindsLostAndDoubledRecords(t *testing.T) {
	truth := map[string]sim.Truth{
		"exact":   {Records: 10, Totals: map[string]string{"EUR": "12.50"}},
		"lost":    {Records: 10},
		"doubled": {Records: 10},
		"view":    {Records: 10},
		"money":   {Records: 10, Totals: map[string]string{"EUR": "12.50"}},
		"missing": {Records: 10},
	}
	got := map[string]*landed{
		"exact":   {rows: 10, distinct: 10, totals: map[string]string{"EUR": "12.5000"}},
		"lost":    {rows: 9, distinct: 9, totals: map[string]string{}},
		"doubled": {rows: 11, distinct: 11, totals: map[string]string{}},
		"view":    {rows: 10, distinct: 10, viewDups: 2, totals: map[string]string{}},
		"money":   {rows: 10, distinct: 10, totals: map[string]string{"EUR": "12.49"}},
	}
	want := map[string][2]int{"exact": {0, 0}, "lost": {1, 0}, "doubled": {0, 1}, "view": {0, 2}, "money": {0, 0}, "missing": {10, 0}}
	for _, r := range compare(truth, got) {
		if w := want[r.Provider]; r.Lost != w[0] || r.Duplicated != w[1] {
			t.Errorf("%s: lost %d, duplicated %d; want %d, %d", r.Provider, r.Lost, r.Duplicated, w[0], w[1])
		}
		if (r.Money != "") != (r.Provider == "money") {
			t.Errorf("%s: money verdict %q", r.Provider, r.Money)
		}
	}
	v := verdict{providers: compare(truth, got)}
	if f := strings.Join(v.failures(), "\n"); !strings.Contains(f, "lost: 1 of 10 records lost") || !strings.Contains(f, "doubled: 1 records doubled") {
		t.Errorf("failures:\n%s", f)
	}
}

func TestCheckDLQWantsEachPoisonRecordOnceWithAReason(t *testing.T) {
	poison := PoisonRecords([]string{"bemo"}, time.Now())
	dl := func(r events.Raw, reason string) deadLetter {
		return deadLetter{subject: "dlq.normalize.bemo", stage: "normalize", original: r.Subject(), recordID: r.RecordID, reason: reason}
	}
	v := checkDLQ([]deadLetter{
		dl(poison[0], "unmappable"),
		dl(poison[0], "unmappable"), // again
		{subject: "dlq.sink.bemo", stage: "sink", original: "events.charging_session.v1.bemo", recordID: "bemo:1", reason: "refused"},
	}, poison)
	if v.found != 1 || len(v.missing) != 1 || v.missing[0] != poison[1].RecordID || len(v.unexpected) != 2 {
		t.Errorf("found %d, missing %v, unexpected %v", v.found, v.missing, v.unexpected)
	}
	if v := checkDLQ([]deadLetter{dl(poison[0], ""), dl(poison[1], "x")}, poison); v.found != 1 || len(v.unexpected) != 1 {
		t.Errorf("a dead letter without a reason was accepted: %+v", v)
	}
}
