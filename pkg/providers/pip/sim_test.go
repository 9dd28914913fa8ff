package pip_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

const exportURL = "/v1/data-export/posten/invoicing"

type simResponse struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request to h; header values "" delete the header.
func call(t *testing.T, h http.Handler, method, target string, header map[string]string, body string) simResponse {
	t.Helper()
	r := httptest.NewRequest(method, "http://sim"+target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+pip.SimAccessToken)
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return simResponse{w.Code, w.Result().Header, b}
}

func exportPage(t *testing.T, h http.Handler, after string) (ids, at []string, through *string) {
	t.Helper()
	target := exportURL
	if after != "" {
		target += "?completedAfter=" + url.QueryEscape(after)
	}
	resp := call(t, h, http.MethodGet, target, nil, "")
	if resp.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, resp.status, resp.body)
	}
	var body struct {
		ExportedThrough *string
		Data            []pip.Session
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Fatal(err)
	}
	for _, s := range body.Data {
		var id string
		_ = json.Unmarshal(s.SessionID, &id)
		ids, at = append(ids, id), append(at, s.CompletedAt)
	}
	return ids, at, body.ExportedThrough
}

func TestSimulatorServesTheSeedShape(t *testing.T) {
	s := newSim(sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)})
	resp := call(t, s, http.MethodGet, exportURL, nil, "")
	if resp.status != http.StatusOK || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %v: %s", resp.status, resp.header, resp.body)
	}
	got, want := providertest.Shape(providertest.DecodeJSON(t, resp.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "getposteninvoicingdata_200.json")))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("simulator response shape\n%v\ndiffers from the example's\n%v", got, want)
	}
}

func TestSimulatorErrorsAreTheSeedTexts(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		target string
		header map[string]string
		status int
		want   string // testdata file
	}{
		{"bad completedAfter", sim.Faults{}, exportURL + "?completedAfter=2013-10-20", nil, 400, "getposteninvoicingdata_400.json"},
		{"no Authorization", sim.Faults{}, exportURL, map[string]string{"Authorization": ""}, 401, "getposteninvoicingdata_401.json"},
		{"not a bearer token", sim.Faults{}, exportURL, map[string]string{"Authorization": "Basic " + pip.SimAccessToken}, 401, "getposteninvoicingdata_401.json"},
		{"unknown token", sim.Faults{}, exportURL, map[string]string{"Authorization": "Bearer sim-cc-999"}, 401, "getposteninvoicingdata_401.json"},
		{"expired token", sim.Faults{ExpiredToken: true}, exportURL, nil, 401, "getposteninvoicingdata_401.json"},
		{"token without the export permission", sim.Faults{}, exportURL, nil, 403, "getposteninvoicingdata_403.json"},
		{"server error", sim.Faults{ServerErrorEvery: 1}, exportURL, nil, 500, "getposteninvoicingdata_500.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow), Faults: tc.faults})
			header := tc.header
			if tc.status == http.StatusForbidden {
				header = map[string]string{"Authorization": "Bearer " + issue(t, s, pip.SimClientIDNoExport)}
			}
			resp := call(t, s, http.MethodGet, tc.target, header, "")
			if resp.status != tc.status {
				t.Errorf("status %d, want %d", resp.status, tc.status)
			}
			if got, want := providertest.DecodeJSON(t, resp.body), providertest.DecodeJSON(t, providertest.Testdata(t, tc.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("body %s\nwant %s", resp.body, providertest.Testdata(t, tc.want))
			}
			if tc.status == 401 && !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge: %v", resp.header)
			}
		})
	}
}

// issue obtains a token from s's token endpoint for client id.
func issue(t *testing.T, s http.Handler, id string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {pip.SimClientSecret}}
	resp := call(t, s, http.MethodPost, pip.SimTokenPath, map[string]string{"Authorization": ""}, form.Encode())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %s", resp.status, resp.body)
	}
	return tok.AccessToken
}

func TestSimulatorTokenEndpoint(t *testing.T) {
	basic := func(id, secret string) string {
		r, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r.Header.Get("Authorization")
	}
	grant := url.Values{"grant_type": {"client_credentials"}}.Encode()
	tests := []struct {
		name   string
		method string
		auth   string
		body   string
		status int
		code   string // the RFC 6749 error; "" for a token
	}{
		{"HTTP Basic", http.MethodPost, basic(pip.SimClientID, pip.SimClientSecret), grant, 200, ""},
		{"form parameters", http.MethodPost, "", grant + "&client_id=" + pip.SimClientID + "&client_secret=" + pip.SimClientSecret, 200, ""},
		{"wrong secret", http.MethodPost, basic(pip.SimClientID, "nope"), grant, 401, "invalid_client"},
		{"unknown client", http.MethodPost, basic("someone", pip.SimClientSecret), grant, 401, "invalid_client"},
		{"no client", http.MethodPost, "", grant, 401, "invalid_client"},
		{"other grant", http.MethodPost, basic(pip.SimClientID, pip.SimClientSecret), "grant_type=password", 400, "unsupported_grant_type"},
		{"GET", http.MethodGet, basic(pip.SimClientID, pip.SimClientSecret), "", 405, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow)})
			resp := call(t, s, tc.method, pip.SimTokenPath, map[string]string{"Authorization": tc.auth}, tc.body)
			var body struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
				Error       string `json:"error"`
			}
			if err := json.Unmarshal(resp.body, &body); err != nil || resp.status != tc.status || body.Error != tc.code {
				t.Fatalf("%d %s (%v), want %d %q", resp.status, resp.body, err, tc.status, tc.code)
			}
			if tc.code == "" && (body.AccessToken == "" || body.TokenType != "Bearer" || body.ExpiresIn != 300) {
				t.Errorf("token response %s", resp.body)
			}
		})
	}

	t.Run("tokens expire after five minutes of the simulator's clock", func(t *testing.T) {
		clk := providertest.NewClock(testNow)
		s := newSim(sim.Options{Seed: 1, Records: 5, Now: clk.Now})
		tok := issue(t, s, pip.SimClientID)
		bearer := map[string]string{"Authorization": "Bearer " + tok}
		clk.Set(testNow.Add(5*time.Minute - time.Second))
		if resp := call(t, s, http.MethodGet, exportURL, bearer, ""); resp.status != 200 {
			t.Fatalf("a token 4m59s old: %d", resp.status)
		}
		clk.Set(testNow.Add(5 * time.Minute))
		if resp := call(t, s, http.MethodGet, exportURL, bearer, ""); resp.status != 401 || !strings.Contains(resp.header.Get("WWW-Authenticate"), "expired") {
			t.Fatalf("a token 5m old: %d %v", resp.status, resp.header)
		}
	})
}

func TestSimulatorPagesByExportedThrough(t *testing.T) {
	s := newSim(sim.Options{Seed: 4, Records: 40, Now: providertest.Fixed(testNow)})
	all, allAt := pip.SimSessions(s)

	// The first page ends inside the group of five: it carries two of them, but says it is
	// exported only through the session before the group.
	ids, _, through := exportPage(t, s, "")
	if len(ids) != testPageSize || through == nil || *through != allAt[3] {
		t.Fatalf("first page: %d sessions through %v, want %d through %s", len(ids), through, testPageSize, allAt[3])
	}

	delivered := map[string]bool{}
	after, pages, whole := "", 0, false
	for {
		ids, at, through := exportPage(t, s, after)
		pages++
		if len(ids) == 0 {
			break
		}
		for i := range ids {
			delivered[ids[i]] = true
			if i > 0 && at[i] < at[i-1] {
				t.Fatalf("page after %q is not in completion order", after)
			}
		}
		if len(ids) > testPageSize {
			if at[0] != at[len(at)-1] || len(ids) != testPageSize+3 {
				t.Errorf("page after %q holds %d sessions, but not one whole group: %q", after, len(ids), at)
			}
			whole = true
		}
		if through == nil || (after != "" && *through <= after) {
			t.Fatalf("page after %q: exportedThrough %v does not advance", after, through)
		}
		// Everything completed through exportedThrough has been delivered.
		for i, id := range all {
			if allAt[i] <= *through && !delivered[id] {
				t.Fatalf("exportedThrough %s, but session %s (%s) was never delivered", *through, id, allAt[i])
			}
		}
		after = *through
		if pages > len(all) {
			t.Fatal("paging does not end")
		}
	}
	if len(delivered) != len(all) || !whole {
		t.Errorf("delivered %d of %d sessions; whole-group page seen: %v", len(delivered), len(all), whole)
	}
	// An empty page keeps the cursor.
	if _, _, through := exportPage(t, s, after); through == nil || *through != after {
		t.Errorf("empty page: exportedThrough %v, want %s", through, after)
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	opts := sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)}
	a, b := newSim(opts), newSim(opts)
	other := newSim(sim.Options{Seed: 10, Records: 60, Now: providertest.Fixed(testNow)})
	body := func(s sim.Simulator) []byte {
		return call(t, s, http.MethodGet, exportURL+"?completedAfter=2026-11-13T00:00:00Z", nil, "").body
	}
	if !bytes.Equal(body(a), body(b)) {
		t.Error("two simulators with the same options serve different data")
	}
	if bytes.Equal(body(a), body(other)) {
		t.Error("another seed serves the same data")
	}
	if ta, tb := a.Truth(), b.Truth(); ta.Records != tb.Records || len(ta.Totals) != 0 {
		t.Errorf("truths %+v / %+v: want equal, without money", ta, tb)
	}
}

func TestSimulatorServesOnlyCompletedSessions(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC))
	s := pip.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 300, Now: clk.Now})
	served := func() int {
		n, after := 0, ""
		for {
			ids, at, through := exportPage(t, s, after)
			for _, a := range at {
				if c, _ := time.Parse(time.RFC3339, a); c.After(clk.Now()) {
					t.Errorf("session completed at %s served at %s", a, clk.Now())
				}
			}
			if len(ids) == 0 {
				return n
			}
			n += len(ids)
			after = *through
		}
	}
	early := served()
	if early == 0 || early != s.Truth().Records {
		t.Fatalf("served %d sessions, Truth says %d", early, s.Truth().Records)
	}
	clk.Set(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	if late := served(); late <= early || late != 300 || s.Truth().Records != 300 {
		t.Fatalf("later: served %d sessions (was %d), Truth says %d of 300", late, early, s.Truth().Records)
	}
}

func TestSimulatorServesTheListUnderRecordsKey(t *testing.T) {
	opts := sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)}
	plain := call(t, newSim(opts), http.MethodGet, exportURL, nil, "")
	opts.Readings.RecordsKey = "sessions"
	other := call(t, newSim(opts), http.MethodGet, exportURL, nil, "")
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(plain.body, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(other.body, &b); err != nil {
		t.Fatal(err)
	}
	if _, ok := b["data"]; ok || !bytes.Equal(a["data"], b["sessions"]) || !bytes.Equal(a["exportedThrough"], b["exportedThrough"]) || len(b) != 2 {
		t.Errorf("with RecordsKey sessions the body is %s; want the same list under sessions, no data", other.body)
	}
}

func TestSimulatorTieBeyondPage(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := newSim(sim.Options{Seed: 4, Records: 40, Now: clk.Now, Readings: sim.Readings{TieBeyondPage: true}})
	clk.Set(testNow.Add(7 * 24 * time.Hour)) // every session has completed
	all, allAt := pip.SimSessions(s)
	sizes := tieGroups(allAt)
	big := testPageSize + testPageSize/5
	if slices.Max(sizes) != big || len(all) != 40 {
		t.Fatalf("%d sessions in groups %v, want one of %d", len(all), sizes, big)
	}
	truth := s.Truth()
	tie := allAt[2*testPageSize+testPageSize/3] // where the planned large group starts
	if truth.Unreadable != big-testPageSize || truth.Records != 40-truth.Unreadable || !slices.Equal(truth.Gaps, []string{tie}) {
		t.Fatalf("truth %+v, want %d unreadable and the gap at %s", truth, big-testPageSize, tie)
	}

	// Paging by exportedThrough never gets more than a page, the tie's page included, and
	// delivers exactly the readable sessions.
	var delivered []string
	after := ""
	for range len(all) {
		ids, at, through := exportPage(t, s, after)
		if len(ids) > testPageSize {
			t.Fatalf("page after %q holds %d sessions", after, len(ids))
		}
		if len(ids) == testPageSize && at[0] == tie && at[len(at)-1] == tie && (through == nil || *through != tie) {
			t.Errorf("the tie's page says exportedThrough %v, want %s", through, tie)
		}
		for _, id := range ids {
			if !slices.Contains(delivered, id) {
				delivered = append(delivered, id)
			}
		}
		if len(ids) < testPageSize {
			break
		}
		after = *through
	}
	if want := pip.SimReadableIDs(s); !slices.Equal(delivered, want) || len(want) != truth.Records {
		t.Errorf("delivered %d sessions, readable %d, truth %d", len(delivered), len(want), truth.Records)
	}
}
