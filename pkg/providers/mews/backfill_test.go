package mews_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func TestBackfillCheckpoint(t *testing.T) {
	b, err := providers.BackfillerOf(mews.Provider{})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 3, 10, 20, 30, 999_000_000, time.FixedZone("CET", 3600))
	cp, err := b.BackfillCheckpoint(from)
	if err != nil {
		t.Fatal(err)
	}
	if want := poll.Checkpoint(`{"from":"2026-11-03T09:20:30Z"}`); cp != want {
		t.Errorf("BackfillCheckpoint(%s) = %s, want %s (rounded down: the first window starts at or before from)", from, cp, want)
	}
	if cp != mews.CheckpointAt(from) {
		t.Errorf("BackfillCheckpoint = %s, CheckpointAt = %s", cp, mews.CheckpointAt(from))
	}
	if got, err := b.CheckpointTime(cp); err != nil || !got.Equal(from.Truncate(time.Second)) || got.Location() != time.UTC {
		t.Errorf("CheckpointTime(%s) = %v, %v; want %s in UTC", cp, got, err, from.Truncate(time.Second).UTC())
	}
	for _, bad := range []time.Time{{}, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if cp, err := b.BackfillCheckpoint(bad); err == nil {
			t.Errorf("BackfillCheckpoint(%v) = %s, want an error", bad, cp)
		}
	}
}

func TestCheckpointTime(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	midExport := mews.Position{From: from, Export: &mews.ExportPosition{ID: "e1", End: from.Add(72 * time.Hour), File: 1, Line: 50, Offset: 4096}}
	for _, tc := range []struct {
		name string
		cp   poll.Checkpoint
		want time.Time
	}{
		{"window start", mews.CheckpointAt(from), from},
		{"in the middle of an export: still the window's start", midExport.Checkpoint(), from},
		{"after the export: the window's end", mews.Position{From: from.Add(72 * time.Hour)}.Checkpoint(), from.Add(72 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mews.Provider{}.CheckpointTime(tc.cp)
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("CheckpointTime(%s) = %v, %v; want %s", tc.cp, got, err, tc.want)
			}
		})
	}
	for _, bad := range []poll.Checkpoint{"", "{}", `{"from":"yesterday"}`, `{"from":"2026-11-01T00:00:00Z","export":{"id":""}}`, `2026-11-01`} {
		if got, err := (mews.Provider{}).CheckpointTime(bad); !errors.Is(err, poll.ErrPermanent) {
			t.Errorf("CheckpointTime(%q) = %v, %v; want an error wrapping poll.ErrPermanent", bad, got, err)
		}
	}
}

// TestBackfillReadsTheRange runs the source from BackfillCheckpoint(from) against the simulator,
// as chargectl backfill and verify do: it emits exactly the entities updated at or after from
// (none before), and each marker's CheckpointTime T promises what it says — every entity
// updated before T (and at or after from) was emitted before that marker.
func TestBackfillReadsTheRange(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 12, Records: 150, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := startConfig(srv.URL)
	cfg.MaxWindow = 72 * time.Hour // several windows in the range
	src := newSource(t, cfg, srv.Client(), providertest.Fixed(testNow))
	from := testNow.Add(-9*24*time.Hour - 1500*time.Millisecond)
	cp, err := mews.Provider{}.BackfillCheckpoint(from)
	if err != nil {
		t.Fatal(err)
	}
	updated := map[string]time.Time{} // every bill the simulator serves, by id
	for _, r := range providertest.FetchAll(t, newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow)), mews.EntityBill, "") {
		if r.Data != nil {
			updated[r.ID] = updatedUtc(t, r.Data)
		}
	}
	recs := providertest.FetchAll(t, src, mews.EntityBill, cp)
	start := from.Truncate(time.Second)
	emitted := map[string]bool{}
	var last time.Time
	markers := 0
	for _, r := range recs {
		if r.Data != nil {
			if u := updated[r.ID]; u.Before(start) {
				t.Errorf("bill %s updated %s, before the backfill's start %s", r.ID, u, start)
			}
			emitted[r.ID] = true
		}
		if r.Next == "" {
			continue
		}
		at, err := mews.Provider{}.CheckpointTime(r.Next)
		if err != nil {
			t.Fatalf("CheckpointTime(%s): %v", r.Next, err)
		}
		if at.Before(last) {
			t.Fatalf("checkpoint time went back from %s to %s", last, at)
		}
		last = at
		markers++
		for id, u := range updated {
			if !u.Before(start) && u.Before(at) && !emitted[id] {
				t.Fatalf("marker at %s: bill %s updated %s not emitted yet", at, id, u)
			}
		}
	}
	want := 0
	for _, u := range updated {
		if !u.Before(start) {
			want++
		}
	}
	if want == 0 || want == len(updated) || len(emitted) != want {
		t.Errorf("backfill emitted %d bills, want the %d of %d updated at or after %s", len(emitted), want, len(updated), start)
	}
	if end := testNow.Add(-mews.DefaultEndLag); !last.Equal(end) || markers < 4 {
		t.Errorf("last checkpoint time %s after %d markers, want %s after several windows", last, markers, end)
	}
}

func updatedUtc(t *testing.T, data []byte) time.Time {
	t.Helper()
	var v struct{ UpdatedUtc time.Time }
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.UpdatedUtc
}
