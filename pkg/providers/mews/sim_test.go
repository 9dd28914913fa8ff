package mews_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

type simResponse struct {
	status int
	header http.Header
	body   []byte
}

// call POSTs body (credentials added unless it sets them) to the operation at path.
func call(t *testing.T, h http.Handler, path string, body map[string]any) simResponse {
	t.Helper()
	req := map[string]any{"ClientToken": mews.SimClientToken, "AccessToken": mews.SimAccessToken, "Client": "test 1.0"}
	for k, v := range body {
		if v == nil {
			delete(req, k)
			continue
		}
		req[k] = v
	}
	b, _ := json.Marshal(req)
	return do(t, h, httptest.NewRequest(http.MethodPost, "http://sim"+path, bytes.NewReader(b)))
}

func do(t *testing.T, h http.Handler, r *http.Request) simResponse {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return simResponse{w.Code, w.Result().Header, body}
}

const (
	addPath    = "/api/connector/v1/exports/add"
	getAllPath = "/api/connector/v1/exports/getAll"
)

func updated(from, to time.Time) map[string]any {
	return map[string]any{"UpdatedUtc": map[string]any{"StartUtc": from.Format(time.RFC3339), "EndUtc": to.Format(time.RFC3339)}}
}

func addBody(entity string, from, to time.Time) map[string]any {
	return map[string]any{"EntityType": entity, "Scope": map[string]any{"EnterpriseIds": []string{mews.SimEnterprises()[1]}}, "Filters": updated(from, to)}
}

func getAll(t *testing.T, h http.Handler, ids ...string) []mews.Export {
	t.Helper()
	body := map[string]any{}
	if len(ids) > 0 {
		body["ExportIds"] = ids
	}
	resp := call(t, h, getAllPath, body)
	if resp.status != http.StatusOK {
		t.Fatalf("getAll: %d %s", resp.status, resp.body)
	}
	exps, err := mews.DecodeGetExports(resp.body)
	if err != nil {
		t.Fatal(err)
	}
	return exps
}

func TestSimulatorServesTheSeedShape(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 1, Records: 120, Now: providertest.Fixed(testNow)})
	add := call(t, s, addPath, addBody("Reservation", testStart, testNow.Add(-time.Hour)))
	if add.status != http.StatusOK {
		t.Fatalf("add: %d %s", add.status, add.body)
	}
	if got, want := providertest.Shape(providertest.DecodeJSON(t, add.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "addexport_response.json"))); !reflect.DeepEqual(got, want) {
		t.Errorf("add response %s\nhas not the seed's shape", add.body)
	}
	exp, _ := mews.DecodeAddExport(add.body)
	call(t, s, getAllPath, map[string]any{"ExportIds": []string{exp.ID}}) // Processing
	resp := call(t, s, getAllPath, map[string]any{"ExportIds": []string{exp.ID}})
	var got, seed struct{ Exports []any }
	_ = json.Unmarshal(resp.body, &got)
	_ = json.Unmarshal(providertest.Testdata(t, "getallexports_response.json"), &seed)
	if len(got.Exports) != 1 || !reflect.DeepEqual(providertest.Shape(got.Exports[0]), providertest.Shape(seed.Exports[0])) {
		t.Errorf("getAll response %s\nhas not the shape of the seed's Success export", resp.body)
	}
}

func TestSimulatorExportLifecycle(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := mews.NewSimulator(sim.Options{Seed: 2, Records: 30, Now: clk.Now})
	add := call(t, s, addPath, addBody(mews.EntityBill, testStart, testNow.Add(-5*time.Minute)))
	exp, err := mews.DecodeAddExport(add.body)
	if err != nil || exp.Status != mews.StatusPending || len(exp.Files) != 0 || exp.ExpiresUtc != nil {
		t.Fatalf("add: %s (%v)", add.body, err)
	}
	var statuses []string
	for range 2 {
		statuses = append(statuses, getAll(t, s, exp.ID)[0].Status)
	}
	e := getAll(t, s, exp.ID)[0]
	statuses = append(statuses, e.Status)
	if strings.Join(statuses, ",") != "Processing,Success,Success" || len(e.Files) == 0 || e.ExpiresUtc == nil {
		t.Fatalf("statuses %v, export %+v", statuses, e)
	}
	if *e.ExpiresUtc != testNow.Add(24*time.Hour).Format(time.RFC3339) {
		t.Errorf("ExpiresUtc %s", *e.ExpiresUtc)
	}
	clk.Add(24 * time.Hour)
	if e := getAll(t, s, exp.ID)[0]; e.Status != mews.StatusExpired || len(e.Files) != 0 {
		t.Errorf("a day later: %+v, want Expired without files", e)
	}
	// A new export of the same type is accepted once the last one is done; FailNext fails it.
	s.FailNext(mews.EntityBill)
	add = call(t, s, addPath, addBody(mews.EntityBill, testStart, testNow))
	second, _ := mews.DecodeAddExport(add.body)
	getAll(t, s) // every export
	if e := getAll(t, s, second.ID)[0]; e.Status != mews.StatusFailed || len(e.Files) != 0 {
		t.Errorf("after FailNext: %+v, want Failed", e)
	}
	if all := getAll(t, s); len(all) != 2 || all[0].ID != exp.ID || all[1].ID != second.ID {
		t.Errorf("getAll without ids listed %+v, want both exports in order", all)
	}
	if exps := getAll(t, s, "00000000-0000-4000-8000-000000000000"); len(exps) != 0 {
		t.Errorf("an unknown id was listed: %+v", exps)
	}
}

func TestSimulatorRefusals(t *testing.T) {
	long := make([]string, 1001)
	for i := range long {
		long[i] = fmt.Sprintf("3fa85f64-5717-4562-b3fc-%012d", i)
	}
	tests := []struct {
		name   string
		faults sim.Faults
		path   string
		body   map[string]any
		status int
		msg    string
	}{
		{"wrong access token", sim.Faults{}, getAllPath, map[string]any{"AccessToken": "nope"}, 401, "Invalid AccessToken."},
		{"no client token", sim.Faults{}, getAllPath, map[string]any{"ClientToken": nil}, 401, "Invalid ClientToken."},
		{"expired token", sim.Faults{ExpiredToken: true}, addPath, addBody("Bill", testStart, testNow.Add(-time.Hour)), 401, "The AccessToken has expired."},
		{"missing token", sim.Faults{MissingToken: true}, getAllPath, nil, 401, "Missing or invalid ClientToken"},
		{"no Client", sim.Faults{}, getAllPath, map[string]any{"Client": ""}, 400, "Client is required."},
		{"unknown entity type", sim.Faults{}, addPath, addBody("Invoice", testStart, testNow.Add(-time.Hour)), 400, "Invalid EntityType 'Invoice'."},
		{"window ending 4 minutes ago", sim.Faults{}, addPath, addBody("Bill", testStart, testNow.Add(-4*time.Minute)), 400, "no later than 5 minutes in the past"},
		{"181 days", sim.Faults{}, addPath, addBody("Bill", testNow.AddDate(0, 0, -182), testNow.AddDate(0, 0, -1)), 400, "the maximum interval is 180 days"},
		{"start after end", sim.Faults{}, addPath, addBody("Bill", testNow.Add(-time.Hour), testNow.Add(-2*time.Hour)), 400, "StartUtc must be before EndUtc"},
		{"1001 enterprises", sim.Faults{}, addPath, map[string]any{"EntityType": "Bill", "Scope": map[string]any{"EnterpriseIds": long}}, 400, "at most 1000 items"},
		{"chain id not a GUID", sim.Faults{}, addPath, map[string]any{"EntityType": "Company", "Scope": map[string]any{"ChainIds": []string{"c1"}}}, 400, "'c1' is not a valid identifier"},
		{"unknown operation", sim.Faults{}, "/api/connector/v1/bills/getAll", nil, 404, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mews.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow), Faults: tc.faults})
			resp := call(t, s, tc.path, tc.body)
			var eb mews.ErrorBody
			if err := json.Unmarshal(resp.body, &eb); err != nil || resp.status != tc.status || !strings.Contains(eb.Message, tc.msg) || eb.RequestID == "" {
				t.Errorf("%d %s; want %d with Message containing %q and a RequestId", resp.status, resp.body, tc.status, tc.msg)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		s := mews.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow)})
		if resp := do(t, s, httptest.NewRequest(http.MethodGet, "http://sim"+getAllPath, nil)); resp.status != http.StatusMethodNotAllowed {
			t.Errorf("GET getAll: %d", resp.status)
		}
	})
	t.Run("add while one is Pending or Processing", func(t *testing.T) {
		s := mews.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow)})
		first := call(t, s, addPath, addBody("Bill", testStart, testNow.Add(-time.Hour)))
		for _, want := range []string{"Pending", "Processing"} {
			resp := call(t, s, addPath, addBody("Bill", testStart, testNow.Add(-time.Hour)))
			if resp.status != http.StatusForbidden || !bytes.Contains(resp.body, []byte("already "+want)) {
				t.Errorf("second add while %s: %d %s", want, resp.status, resp.body)
			}
			exp, _ := mews.DecodeAddExport(first.body)
			getAll(t, s, exp.ID)
		}
		if resp := call(t, s, addPath, addBody("Payment", testStart, testNow.Add(-time.Hour))); resp.status != http.StatusOK {
			t.Errorf("another entity type is refused: %d %s", resp.status, resp.body)
		}
		if resp := call(t, s, addPath, addBody("Bill", testStart, testNow.Add(-time.Hour))); resp.status != http.StatusOK {
			t.Errorf("add after Success refused: %d %s", resp.status, resp.body)
		}
		if n := s.Truth().Requests["add-refused Bill"]; n != 2 {
			t.Errorf("Requests counted %d refusals, want 2", n)
		}
	})
}

// succeed runs an export of entity over the whole data set to Success.
func succeed(t *testing.T, h http.Handler, entity string, scope map[string]any) mews.Export {
	t.Helper()
	body := map[string]any{"EntityType": entity, "Filters": updated(testStart, testNow.Add(-time.Hour))}
	if scope != nil {
		body["Scope"] = scope
	}
	add := call(t, h, addPath, body)
	exp, err := mews.DecodeAddExport(add.body)
	if err != nil {
		t.Fatalf("add: %s", add.body)
	}
	getAll(t, h, exp.ID)
	e := getAll(t, h, exp.ID)[0]
	if e.Status != mews.StatusSuccess {
		t.Fatalf("export %+v", e)
	}
	return e
}

func TestSimulatorFiles(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := mews.NewSimulator(sim.Options{Seed: 3, Records: 120, Now: clk.Now})
	// Mounted like providersim mounts it: the file URLs must carry the prefix.
	mux := http.NewServeMux()
	mux.Handle("/mews/", http.StripPrefix("/mews", s))
	srv := providertest.Serve(t, mux)
	c := newClient(t, testConfig(srv.URL+"/mews"), srv.Client())
	if _, err := c.AddExport(t.Context(), mews.EntityBill, testStart, testNow.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	var e mews.Export
	for range 2 {
		exps, err := c.Exports(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		e = exps[0]
	}
	if len(e.Files) != 3 || !strings.HasPrefix(e.Files[0].URL, srv.URL+"/mews/exports/"+e.ID+"-1.jsonl?") {
		t.Fatalf("files %+v: want three under %s/mews/exports/", e.Files, srv.URL)
	}
	get := func(u string, header ...string) simResponse {
		r := httptest.NewRequest(http.MethodGet, u, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		resp, err := srv.Client().Do(func() *http.Request { r.RequestURI = ""; return r }())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return simResponse{resp.StatusCode, resp.Header, b}
	}
	whole := get(e.Files[0].URL)
	if whole.status != 200 || int64(len(whole.body)) != e.Files[0].SizeInBytes || bytes.Count(whole.body, []byte("\n")) != 50 {
		t.Fatalf("file 1: %d, %d bytes (SizeInBytes %d)", whole.status, len(whole.body), e.Files[0].SizeInBytes)
	}
	if part := get(e.Files[0].URL, "Range", "bytes=100-"); part.status != 206 || !bytes.Equal(part.body, whole.body[100:]) {
		t.Errorf("Range: %d, %d bytes", part.status, len(part.body))
	}
	if bad := get(strings.Replace(e.Files[0].URL, "sig=", "sig=0", 1)); bad.status != 403 {
		t.Errorf("bad signature: %d", bad.status)
	}
	clk.Add(10*time.Minute + time.Second)
	if old := get(e.Files[0].URL); old.status != 403 || !bytes.Contains(old.body, []byte("time frame")) {
		t.Errorf("11 minutes after getAll: %d %s; want 403", old.status, old.body)
	}
	truth := s.Truth()
	if truth.Requests["url-expired"] != 1 || truth.Requests["file "+e.ID+" 1"] != 2 || truth.Requests["range "+e.ID+" 1"] != 1 {
		t.Errorf("requests %v", truth.Requests)
	}
}

func TestSimulatorScopeAndWindow(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 4, Records: 200, Now: providertest.Fixed(testNow)})
	lines := func(e mews.Export) []map[string]any {
		var out []map[string]any
		for _, f := range e.Files {
			u := strings.TrimPrefix(f.URL, "http://sim")
			for _, l := range bytes.Split(bytes.TrimSpace(do(t, s, httptest.NewRequest(http.MethodGet, "http://sim"+u, nil)).body), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
			}
		}
		return out
	}
	ent := mews.SimEnterprises()[2]
	bills := lines(succeed(t, s, mews.EntityBill, map[string]any{"EnterpriseIds": []string{ent}}))
	if len(bills) == 0 || len(bills) >= s.Entities(mews.EntityBill) {
		t.Fatalf("%d bills of one enterprise out of %d", len(bills), s.Entities(mews.EntityBill))
	}
	last := ""
	for _, b := range bills {
		if b["EnterpriseId"] != ent {
			t.Errorf("bill of enterprise %v in an export scoped to %s", b["EnterpriseId"], ent)
		}
		cur := fmt.Sprint(b["UpdatedUtc"])
		if cur < last {
			t.Errorf("bills out of UpdatedUtc order: %s after %s", cur, last)
		}
		last = cur
		if r := b["Revenue"].([]any); len(r) == 0 || r[0].(map[string]any)["Amount"].(map[string]any)["Currency"] != "GBP" {
			t.Errorf("bill without GBP revenue: %v", b["Revenue"])
		}
	}
	// Customers are chain-wide: an enterprise scope does not restrict them.
	if customers := lines(succeed(t, s, mews.EntityCustomer, map[string]any{"EnterpriseIds": []string{ent}})); len(customers) != s.Entities(mews.EntityCustomer) {
		t.Errorf("%d customers, want all %d", len(customers), s.Entities(mews.EntityCustomer))
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	opts := sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)}
	body := func(s *mews.Simulator) []byte {
		e := succeed(t, s, mews.EntityBill, nil)
		var all []byte
		for _, f := range e.Files {
			all = append(all, do(t, s, httptest.NewRequest(http.MethodGet, f.URL, nil)).body...)
		}
		return all
	}
	a, b := mews.NewSimulator(opts), mews.NewSimulator(opts)
	later := mews.NewSimulator(sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow.Add(40 * time.Minute))})
	other := mews.NewSimulator(sim.Options{Seed: 10, Records: 60, Now: providertest.Fixed(testNow)})
	ba := body(a)
	if !bytes.Equal(ba, body(b)) || !bytes.Equal(ba, body(later)) {
		t.Error("two simulators with the same seed, count and hour serve different data")
	}
	if bytes.Equal(ba, body(other)) {
		t.Error("another seed serves the same data")
	}
	ta, tb := a.Truth(), b.Truth()
	if ta.Records != 60 || ta.Records != tb.Records || !reflect.DeepEqual(ta.Totals, tb.Totals) || len(ta.Totals) != 3 {
		t.Errorf("truths %+v / %+v: want 60 bills in three currencies", ta, tb)
	}
	for _, et := range mews.EntityTypes() {
		if want := map[bool]int{true: 60, false: 12}[et == mews.EntityBill]; a.Entities(et) != want {
			t.Errorf("%d %s entities, want %d", a.Entities(et), et, want)
		}
	}
}
