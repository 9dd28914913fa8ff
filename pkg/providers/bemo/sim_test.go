package bemo_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

type simResponse struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, s http.Handler, path string, header map[string]string) simResponse {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://sim"+path, nil)
	r.Header.Set("Authorization", bemo.SimAccessToken)
	r.Header.Set("Api-Subscription-Key", bemo.SimSubscriptionKey)
	for k, v := range header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return simResponse{w.Code, w.Result().Header, body}
}

func sessionsPath(acc, query string) string {
	return "/reporting/v1/api/accounts/" + acc + "/sessions?" + query
}

func TestSimulatorServesTheSeedShape(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)})
	resp := get(t, s, sessionsPath("acc-1", "limit=1"), nil)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got, want := providertest.Shape(providertest.DecodeJSON(t, resp.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "getsessionsbyaccount_200.json")))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("simulator response shape\n%v\ndiffers from the seed's\n%v", got, want)
	}
	if resp.header.Get("Accept-Range") != "1000" || resp.header.Get("Next-Range") == "" {
		t.Errorf("range headers: %v", resp.header)
	}
}

func TestSimulatorErrorsAreTheSeedExamples(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		path   string
		header map[string]string
		status int
		want   string // testdata file
	}{
		{"bad from", sim.Faults{}, sessionsPath("acc-1", "from=2026-13-01"), nil, 400, "getsessionsbyaccount_400_invalidfromdate.json"},
		{"bad to", sim.Faults{}, sessionsPath("acc-1", "from=2026-11-01&to=tomorrow"), nil, 400, "getsessionsbyaccount_400_invalidtodate.json"},
		{"unknown account", sim.Faults{}, sessionsPath("acc-9", ""), nil, 404, "getsessionsbyaccount_404.json"},
		{"no Authorization", sim.Faults{}, sessionsPath("acc-1", ""), map[string]string{"Authorization": ""}, 401, "getsessionsbyaccount_401_tokennotpresent.json"},
		{"wrong token", sim.Faults{}, sessionsPath("acc-1", ""), map[string]string{"Authorization": "eyJ.bad"}, 401, "getsessionsbyaccount_401_invalidjwt.json"},
		{"expired token", sim.Faults{ExpiredToken: true}, sessionsPath("acc-1", ""), nil, 401, "getsessionsbyaccount_401_tokenexpired.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow), Faults: tc.faults})
			resp := get(t, s, tc.path, tc.header)
			if resp.status != tc.status {
				t.Errorf("status %d, want %d", resp.status, tc.status)
			}
			if got, want := providertest.DecodeJSON(t, resp.body), providertest.DecodeJSON(t, providertest.Testdata(t, tc.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("body %s\nwant the seed's %s", resp.body, providertest.Testdata(t, tc.want))
			}
		})
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	opts := sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)}
	a, b := bemo.Provider{}.NewSimulator(opts), bemo.Provider{}.NewSimulator(opts)
	other := bemo.Provider{}.NewSimulator(sim.Options{Seed: 10, Records: 60, Now: providertest.Fixed(testNow)})
	path := sessionsPath("acc-2", "limit=1000")
	if !bytes.Equal(get(t, a, path, nil).body, get(t, b, path, nil).body) {
		t.Error("two simulators with the same options serve different data")
	}
	if bytes.Equal(get(t, a, path, nil).body, get(t, other, path, nil).body) {
		t.Error("another seed serves the same data")
	}
	ta, tb := a.Truth(), b.Truth()
	if ta.Records != tb.Records || !reflect.DeepEqual(ta.Totals, tb.Totals) {
		t.Errorf("truths differ: %+v / %+v", ta, tb)
	}
}

func TestSimulatorOrderTiesAndLateArrivals(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 200, Now: clk.Now})
	served := func() (n int) {
		ties := 0
		for _, acc := range bemo.SimAccounts() {
			var env struct{ Data []bemo.Session }
			if err := json.Unmarshal(get(t, s, sessionsPath(acc, "limit=1000"), nil).body, &env); err != nil {
				t.Fatal(err)
			}
			for i, ss := range env.Data {
				end, _ := time.Parse(time.RFC3339, ss.SessionEndDate)
				if end.After(clk.Now()) {
					t.Errorf("session %s served before it ended", ss.SessionID)
				}
				if i == 0 {
					continue
				}
				prev := env.Data[i-1]
				if c := cmp.Or(cmp.Compare(prev.SessionStartDate, ss.SessionStartDate), cmp.Compare(prev.SessionID, ss.SessionID)); c >= 0 {
					t.Errorf("%s: sessions %s and %s out of (start, id) order", acc, prev.SessionID, ss.SessionID)
				}
				if prev.SessionStartDate == ss.SessionStartDate {
					ties++
				}
			}
			n += len(env.Data)
		}
		if ties == 0 {
			t.Error("no two sessions share a start time")
		}
		return n
	}
	early := served()
	if early != s.Truth().Records {
		t.Fatalf("served %d sessions, Truth says %d", early, s.Truth().Records)
	}
	clk.Set(testNow.Add(30 * time.Hour))
	if late := served(); late <= early || late != s.Truth().Records {
		t.Fatalf("after 30h: served %d sessions (was %d), Truth says %d", late, early, s.Truth().Records)
	}
	currencies := slices.Sorted(func(yield func(string) bool) {
		for c := range s.Truth().Totals {
			if !yield(c) {
				return
			}
		}
	})
	if len(currencies) < 3 {
		t.Errorf("totals in %v: want several currencies", currencies)
	}
}
