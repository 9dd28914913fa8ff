package plugsurfing_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestSourceReadsTheOtherReadings polls a simulator serving each other reading of the seed (and
// all of them at once) and holds what the source emits and the mapping makes of it to the
// simulator's own bills: every bill once, by BillID, with exactly its sessions.
func TestSourceReadsTheOtherReadings(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    sim.Readings
	}{
		{"bills at the top level", sim.Readings{PlugsurfingBillsTopLevel: true}},
		{"numeric session ids", sim.Readings{PlugsurfingNumericSessionIDs: true}},
		{"string result code", sim.Readings{PlugsurfingStringResultCode: true}},
		{"inclusive interval end", sim.Readings{PlugsurfingInclusiveEnd: true}},
		{"bills without sessions", sim.Readings{PlugsurfingBillsWithoutSessions: true}},
		{"all at once", sim.Readings{PlugsurfingBillsTopLevel: true, PlugsurfingNumericSessionIDs: true, PlugsurfingStringResultCode: true,
			PlugsurfingInclusiveEnd: true, PlugsurfingBillsWithoutSessions: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 11, Records: 400, Now: providertest.Fixed(testNow), Readings: tc.r})
			var served atomic.Int64 // bills in the simulator's answers, repeats included
			srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, r)
				served.Add(int64(bytes.Count(rec.Body.Bytes(), []byte(`"bill":`))))
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
			}))
			src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
			truth := s.Truth()
			want := plugsurfing.SimSessions(s)
			if truth.Records < 300 || len(truth.IDs) != truth.Records || len(want) != truth.Records {
				t.Fatalf("truth: %d records, %d ids, %d session lists", truth.Records, len(truth.IDs), len(want))
			}

			var ids []string
			got := map[string][]string{}
			empty := 0
			for _, u := range plugsurfing.SimUsers() {
				for _, r := range providertest.FetchAll(t, src, u.Scope(), "") {
					if r.Data == nil {
						continue
					}
					ids = append(ids, r.ID)
					evs, err := plugsurfing.Provider{}.Map(rawFor(u.Scope(), r.Data))
					if err != nil {
						t.Fatalf("Map(%s): %v", r.Data, err)
					}
					inv := decodeInvoice(t, evs[0])
					got[inv.SourceID] = inv.SessionIDs
					if len(inv.SessionIDs) == 0 {
						empty++
					}
				}
			}
			slices.Sort(ids)
			if !slices.Equal(ids, truth.IDs) {
				t.Fatalf("the source emitted %d bills, the simulator holds %d", len(ids), len(truth.IDs))
			}
			for id, sessions := range want {
				if !slices.Equal(got[id], sessions) {
					t.Errorf("bill %s: session_ids %q, the simulator's %q", id, got[id], sessions)
				}
			}
			if tc.r.PlugsurfingBillsWithoutSessions && empty < truth.Records/10 {
				t.Errorf("%d of %d bills cover no session; the reading makes one in six", empty, truth.Records)
			}
			if tc.r.PlugsurfingNumericSessionIDs && !slices.ContainsFunc(ids, func(id string) bool {
				return slices.ContainsFunc(got[id], func(s string) bool { return len(s) > len("plugsurfing:")+16 })
			}) {
				t.Error("no numeric session id beyond 2^53: the reading is not exercised")
			}
			// Under the inclusive end, bills on a boundary come in two answers; each is emitted
			// once all the same.
			if repeats := served.Load() - int64(len(ids)); tc.r.PlugsurfingInclusiveEnd && repeats == 0 {
				t.Error("no bill was served twice: the inclusive end is not exercised")
			}
		})
	}
}

func decodeInvoice(t *testing.T, ev events.Event) events.Invoice {
	t.Helper()
	var inv events.Invoice
	if err := json.Unmarshal(ev.Data, &inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestSimulatorOtherReadingsShape checks what each reading changes in the simulator's answer,
// and that it changes nothing else (the same bills, with the same URLs).
func TestSimulatorOtherReadingsShape(t *testing.T) {
	opts := sim.Options{Seed: 2, Records: 240, Now: providertest.Fixed(testNow)}
	u := plugsurfing.SimUsers()[0]
	body := call(u, utc(testNow.Add(-20*24*time.Hour)), utc(testNow))
	for _, tc := range []struct {
		r        sim.Readings
		has, not []string
	}{
		{sim.Readings{}, []string{`{"user":{"bills":[`, `"result":{"code":0,`}, nil},
		{sim.Readings{PlugsurfingBillsTopLevel: true}, []string{`"bills":[{`, `"result":{"code":0,`}, []string{`"user"`}},
		{sim.Readings{PlugsurfingStringResultCode: true}, []string{`"user":{"bills":[`, `"code":"0"`}, nil},
		{sim.Readings{PlugsurfingNumericSessionIDs: true}, []string{`"external-session-ids":[1`, `"external-session-ids":[2`}, nil},
		{sim.Readings{PlugsurfingBillsWithoutSessions: true}, []string{`"external-session-ids":[]`, `"external-session-ids":null`, `{"bill":"https://api.plugsurfing.com/uploads/bills/Invoice-20261`}, nil},
	} {
		opts.Readings = tc.r
		resp := post(t, plugsurfing.Provider{}.NewSimulator(opts), body)
		for _, s := range tc.has {
			if !strings.Contains(string(resp.body), s) {
				t.Errorf("%+v: answer lacks %s", tc.r, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(string(resp.body), s) {
				t.Errorf("%+v: answer has %s", tc.r, s)
			}
		}
		if n := strings.Count(string(resp.body), `"bill":"https://`); n < 5 {
			t.Errorf("%+v: %d bills", tc.r, n)
		}
	}
	opts.Readings = sim.Readings{PlugsurfingStringResultCode: true}
	wrong := u
	wrong.Token = "nope"
	if resp := post(t, plugsurfing.Provider{}.NewSimulator(opts), call(wrong, utc(testNow.Add(-time.Hour)), utc(testNow))); !strings.Contains(string(resp.body), `"code":"145"`) {
		t.Errorf("a refusal under the string code: %s", resp.body)
	}
}
