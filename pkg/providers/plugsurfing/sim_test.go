package plugsurfing_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

type simResponse struct {
	status int
	body   []byte
}

func post(t *testing.T, s http.Handler, body string) simResponse {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://sim/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return simResponse{w.Code, b}
}

// call is a user-get-bills body for u over start … end (already formatted).
func call(u plugsurfing.User, start, end string) string {
	b, _ := json.Marshal(plugsurfing.Request{UserGetBills: plugsurfing.UserGetBills{
		User:         plugsurfing.RequestUser{IdentifierType: u.IdentifierType, Identifier: u.Identifier, Token: u.Token.Reveal()},
		DateInterval: plugsurfing.DateInterval{Start: start, End: end},
	}})
	return string(b)
}

func utc(t time.Time) string { return plugsurfing.FormatTime(t, time.UTC) }

// bills lists the bill URLs a successful answer holds.
func bills(t *testing.T, resp simResponse) []string {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var r struct {
		User struct {
			Bills []plugsurfing.Bill `json:"bills"`
		} `json:"user"`
		Result struct{ Code int } `json:"result"`
	}
	if err := json.Unmarshal(resp.body, &r); err != nil || r.Result.Code != 0 {
		t.Fatalf("answer %s: %v", resp.body, err)
	}
	var urls []string
	for _, b := range r.User.Bills {
		urls = append(urls, b.Bill)
	}
	return urls
}

func TestSimulatorServesTheSeedShape(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)})
	resp := post(t, s, call(plugsurfing.SimUsers()[0], utc(testNow.Add(-30*24*time.Hour)), utc(testNow)))
	if len(bills(t, resp)) == 0 {
		t.Fatal("no bills for the seed's user")
	}
	got, want := providertest.Shape(providertest.DecodeJSON(t, resp.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "usergetbills_response.json")))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("simulator response shape\n%v\ndiffers from the seed's\n%v", got, want)
	}
	if !bytes.Contains(resp.body, []byte(`"result":{"code":0,"message":"Success."}`)) {
		t.Errorf("result is not the seed's: %s", resp.body)
	}
}

func TestSimulatorAcceptsTheSeedRequest(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)})
	// The seed's own request, its user and token: authenticated, and no bills in March 2015.
	resp := post(t, s, string(providertest.Testdata(t, "usergetbills_request.json")))
	if urls := bills(t, resp); len(urls) != 0 {
		t.Errorf("bills in 2015: %v", urls)
	}
}

func TestSimulatorResultCodes(t *testing.T) {
	seedUser := plugsurfing.SimUsers()[0]
	rfid := plugsurfing.SimUsers()[1]
	with := func(u plugsurfing.User, f func(*plugsurfing.User)) plugsurfing.User { f(&u); return u }
	tests := []struct {
		name   string
		faults sim.Faults
		user   plugsurfing.User
		want   string // testdata file of the result
	}{
		{"unknown username", sim.Faults{}, with(seedUser, func(u *plugsurfing.User) { u.Identifier = "nobody" }), "usergetbills_result_144.json"},
		{"unknown rfid", sim.Faults{}, with(rfid, func(u *plugsurfing.User) { u.Identifier = "FFFF" }), "usergetbills_result_140.json"},
		{"unknown identifier type", sim.Faults{}, with(rfid, func(u *plugsurfing.User) { u.IdentifierType = "email" }), "usergetbills_result_140.json"},
		{"no token", sim.Faults{}, with(rfid, func(u *plugsurfing.User) { u.Token = "" }), "usergetbills_result_140.json"},
		{"wrong token", sim.Faults{}, with(seedUser, func(u *plugsurfing.User) { u.Token = "x" }), "usergetbills_result_145.json"},
		{"Faults.ExpiredToken", sim.Faults{ExpiredToken: true}, seedUser, "usergetbills_result_145.json"},
		{"Faults.MissingToken", sim.Faults{MissingToken: true}, seedUser, "usergetbills_result_140.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow), Faults: tc.faults})
			resp := post(t, s, call(tc.user, utc(testNow.Add(-time.Hour)), utc(testNow)))
			if resp.status != http.StatusOK {
				t.Errorf("status %d, want 200: the outcome is in result.code", resp.status)
			}
			if got, want := providertest.DecodeJSON(t, resp.body), providertest.DecodeJSON(t, providertest.Testdata(t, tc.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("body %s, want %s", resp.body, providertest.Testdata(t, tc.want))
			}
			if len(s.Truth().Requests) != 0 {
				t.Errorf("a refused call was counted: %v", s.Truth().Requests)
			}
		})
	}
}

func TestSimulatorRefusesMalformedCalls(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow)})
	u := plugsurfing.SimUsers()[0]
	for _, tc := range []struct {
		name, body string
	}{
		{"not JSON", `user-get-bills`},
		{"another call", `{"user-get-balance":{}}`},
		{"Z instead of an offset", call(u, "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z")},
		{"no seconds", call(u, "2026-11-19T00:00+00:00", "2026-11-20T00:00:00+00:00")},
		{"a date only", call(u, "2026-11-19", "2026-11-20T00:00:00+00:00")},
		{"end before start", call(u, "2026-11-20T00:00:00+00:00", "2026-11-19T00:00:00+00:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := post(t, s, tc.body); resp.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", resp.status, resp.body)
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "http://sim/", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", w.Code)
	}
}

// TestSimulatorIntervalIsHalfOpen finds a bill's hidden date by bisection and checks that an
// interval ending on it excludes the bill and one starting on it includes it; the same instants
// written at other offsets give the same answer.
func TestSimulatorIntervalIsHalfOpen(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 60, Now: providertest.Fixed(testNow)})
	u := plugsurfing.SimUsers()[2]
	from := testNow.Add(-15 * 24 * time.Hour)
	all := bills(t, post(t, s, call(u, utc(from), utc(testNow))))
	if len(all) < 2 {
		t.Fatalf("user %s has %d bills", u.Scope(), len(all))
	}
	first := all[0]
	has := func(end time.Time) bool {
		for _, b := range bills(t, post(t, s, call(u, utc(from), utc(end)))) {
			if b == first {
				return true
			}
		}
		return false
	}
	lo, hi := from, testNow // has(lo) false, has(hi) true
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if has(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	date := lo // [from, date) misses the bill, [from, date+1s) has it
	if got := bills(t, post(t, s, call(u, utc(date), utc(testNow)))); len(got) == 0 || got[0] != first {
		t.Errorf("an interval starting at the bill's date %s does not return it first: %v", date, got)
	}
	plus1, _ := plugsurfing.ParseUTCOffset("+01:00")
	minus5, _ := plugsurfing.ParseUTCOffset("-05:00")
	a := bills(t, post(t, s, call(u, utc(date), utc(testNow))))
	b := bills(t, post(t, s, call(u, plugsurfing.FormatTime(date, plus1), plugsurfing.FormatTime(testNow, minus5))))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the same interval at other offsets gives other bills:\n%v\n%v", a, b)
	}
	if s.Truth().Requests[u.Scope()+" "+plugsurfing.FormatTime(date, plus1)+".."+plugsurfing.FormatTime(testNow, minus5)] != 1 {
		t.Errorf("Requests does not key calls by the interval as sent: %v", s.Truth().Requests)
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	opts := sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)}
	a, b := plugsurfing.Provider{}.NewSimulator(opts), plugsurfing.Provider{}.NewSimulator(opts)
	other := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 10, Records: 60, Now: providertest.Fixed(testNow)})
	body := call(plugsurfing.SimUsers()[1], utc(testNow.Add(-20*24*time.Hour)), utc(testNow))
	if !bytes.Equal(post(t, a, body).body, post(t, b, body).body) {
		t.Error("two simulators with the same options serve different bills")
	}
	if bytes.Equal(post(t, a, body).body, post(t, other, body).body) {
		t.Error("another seed serves the same bills")
	}
	if ta, tb := a.Truth(), b.Truth(); ta.Records != tb.Records || len(ta.Totals) != 0 {
		t.Errorf("truths %+v / %+v: want equal records and no totals", ta, tb)
	}
}

func TestSimulatorLateArrivalsAndUniqueBills(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 200, Now: clk.Now})
	served := func() (n int) {
		seen := map[string]bool{}
		for _, u := range plugsurfing.SimUsers() {
			var r struct {
				User struct {
					Bills []plugsurfing.Bill `json:"bills"`
				} `json:"user"`
			}
			resp := post(t, s, call(u, utc(testNow.Add(-20*24*time.Hour)), utc(clk.Now())))
			if err := json.Unmarshal(resp.body, &r); err != nil {
				t.Fatal(err)
			}
			for _, b := range r.User.Bills {
				if seen[b.Bill] || len(b.ExternalSessionIDs) == 0 || len(b.ExternalSessionIDs) > 3 {
					t.Errorf("bill %s: repeated, or %d sessions", b.Bill, len(b.ExternalSessionIDs))
				}
				seen[b.Bill] = true
			}
			n += len(r.User.Bills)
		}
		return n
	}
	early := served()
	if early == 0 || early != s.Truth().Records {
		t.Fatalf("served %d bills, Truth says %d", early, s.Truth().Records)
	}
	clk.Set(testNow.Add(13 * time.Hour))
	if late := served(); late <= early || late != s.Truth().Records || late != 200 {
		t.Fatalf("after 13h: served %d bills (was %d), Truth says %d, want all 200", late, early, s.Truth().Records)
	}
}
