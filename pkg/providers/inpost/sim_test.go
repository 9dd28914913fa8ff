package inpost_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

type simResponse struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, s http.Handler, method, path string, header map[string]string) simResponse {
	t.Helper()
	r := httptest.NewRequest(method, "http://sim"+path, nil)
	r.Header.Set("Authorization", "Bearer "+inpost.SimAccessToken)
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

func get(t *testing.T, s http.Handler, path string) simResponse {
	t.Helper()
	return do(t, s, http.MethodGet, path, nil)
}

func mpksPath(org, query string) string { return "/v1/organizations/" + org + "/mpks?" + query }

func TestSimulatorServesTheSeedShape(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 50, Now: providertest.Fixed(testNow)})
	list := get(t, s, mpksPath("1", ""))
	if list.status != http.StatusOK || !strings.HasPrefix(list.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q: %s", list.status, list.header.Get("Content-Type"), list.body)
	}
	if got, want := providertest.Shape(providertest.DecodeJSON(t, list.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "lista_200.json"))); !reflect.DeepEqual(got, want) {
		t.Errorf("list shape\n%v\ndiffers from the seed's\n%v", got, want)
	}
	var coll struct {
		PerPage int               `json:"per_page"`
		Items   []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(list.body, &coll); err != nil || coll.PerPage != 30 {
		t.Fatalf("default per_page %d, want the seed's 30 (%v)", coll.PerPage, err)
	}
	// Without sort parameters the order is the seed example's: id descending.
	for i := 1; i < len(coll.Items); i++ {
		if headOf(t, coll.Items[i]).ID >= headOf(t, coll.Items[i-1]).ID {
			t.Fatalf("default order is not id descending at item %d", i)
		}
	}
	one := get(t, s, fmt.Sprintf("/v1/mpks/%d", headOf(t, coll.Items[0]).ID))
	if one.status != http.StatusOK || !bytes.Equal(one.body, coll.Items[0]) {
		t.Fatalf("GET /v1/mpks/:id = %d %s, want the listed item", one.status, one.body)
	}
	if got, want := providertest.Shape(providertest.DecodeJSON(t, one.body)), providertest.Shape(providertest.DecodeJSON(t, providertest.Testdata(t, "szczegoly_200.json"))); !reflect.DeepEqual(got, want) {
		t.Errorf("MPK shape\n%v\ndiffers from the seed's\n%v", got, want)
	}
	// Times are written like the seed's: local time, milliseconds, offset.
	h := headOf(t, coll.Items[0])
	for _, ts := range []string{h.CreatedAt, h.UpdatedAt} {
		if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", ts); err != nil {
			t.Errorf("time %q is not written like the seed's 2018-05-15T21:58:49.427+02:00", ts)
		}
	}
}

func TestSimulatorErrors(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		method string
		path   string
		header map[string]string
		status int
		key    string
		want   string // testdata file the body must equal, if any
	}{
		{"unknown organization", sim.Faults{}, "GET", mpksPath("999", ""), nil, 404, "resource_not_found", "blad_404_resource_not_found.json"},
		{"unknown MPK", sim.Faults{}, "GET", "/v1/mpks/123456", nil, 404, "resource_not_found", "blad_404_resource_not_found.json"},
		{"unknown path", sim.Faults{}, "GET", "/v1/shipments", nil, 404, "resource_not_found", ""},
		{"no Authorization", sim.Faults{}, "GET", mpksPath("1", ""), map[string]string{"Authorization": ""}, 401, "unauthorized", ""},
		{"token without Bearer", sim.Faults{}, "GET", mpksPath("1", ""), map[string]string{"Authorization": inpost.SimAccessToken}, 401, "unauthorized", ""},
		{"wrong token", sim.Faults{}, "GET", "/v1/mpks/1", map[string]string{"Authorization": "Bearer nope"}, 401, "token_invalid", ""},
		{"expired token", sim.Faults{ExpiredToken: true}, "GET", mpksPath("1", ""), nil, 401, "token_expired", ""},
		{"bad page", sim.Faults{}, "GET", mpksPath("1", "page=0"), nil, 400, "validation_failed", ""},
		{"bad sort_order", sim.Faults{}, "GET", mpksPath("1", "sort_by=updated_at&sort_order=up"), nil, 400, "validation_failed", ""},
		{"create (POST) is not simulated", sim.Faults{}, "POST", mpksPath("1", ""), nil, 405, "method_not_allowed", ""},
		{"create as the seed's example writes it (PUT)", sim.Faults{}, "PUT", mpksPath("1", ""), nil, 405, "method_not_allowed", ""},
		{"update (PUT) is not simulated", sim.Faults{}, "PUT", "/v1/mpks/1", nil, 405, "method_not_allowed", ""},
		{"injected 500", sim.Faults{ServerErrorEvery: 1}, "GET", mpksPath("1", ""), nil, 500, "internal_server_error", ""},
		{"injected 429", sim.Faults{TooManyRequestsEvery: 1}, "GET", mpksPath("1", ""), nil, 429, "too_many_requests", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow), Faults: tc.faults})
			resp := do(t, s, tc.method, tc.path, tc.header)
			if resp.status != tc.status {
				t.Errorf("status %d, want %d", resp.status, tc.status)
			}
			var body inpost.ErrorBody
			if err := json.Unmarshal(resp.body, &body); err != nil || body.Status != tc.status || body.Error != tc.key || body.Message == "" || len(body.Details) == 0 {
				t.Errorf("body %s: want ShipX's {status: %d, error: %q, message, details}", resp.body, tc.status, tc.key)
			}
			if tc.want != "" {
				if got, want := providertest.DecodeJSON(t, resp.body), providertest.DecodeJSON(t, providertest.Testdata(t, tc.want)); !reflect.DeepEqual(got, want) {
					t.Errorf("body %s\nwant ShipX's documented %s", resp.body, providertest.Testdata(t, tc.want))
				}
			}
			if tc.status == 405 && resp.header.Get("Allow") != "GET" {
				t.Errorf("405 without Allow: GET")
			}
			if tc.status == 429 && resp.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		})
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	opts := sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)}
	a, b := inpost.Provider{}.NewSimulator(opts), inpost.Provider{}.NewSimulator(opts)
	other := inpost.Provider{}.NewSimulator(sim.Options{Seed: 10, Records: 60, Now: providertest.Fixed(testNow)})
	path := mpksPath("2", "per_page=100&sort_by=updated_at&sort_order=asc")
	if !bytes.Equal(get(t, a, path).body, get(t, b, path).body) {
		t.Error("two simulators with the same options serve different data")
	}
	if bytes.Equal(get(t, a, path).body, get(t, other, path).body) {
		t.Error("another seed serves the same data")
	}
	if ta, tb := a.Truth(), b.Truth(); ta.Records != tb.Records || len(ta.Totals) != 0 {
		t.Errorf("truths %+v / %+v: want equal record counts and no totals", ta, tb)
	}
}

// TestSimulatorData checks what the seed promises about MPKs, and that the clock creates and
// updates them.
func TestSimulatorData(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 400, Now: clk.Now})
	type seenMPK struct {
		org     string
		updated string
		created string
	}
	served := func() map[int64]seenMPK {
		out := map[int64]seenMPK{}
		ties, longNames, offsets := 0, 0, map[string]bool{}
		for _, org := range inpost.SimOrganizations() {
			names := map[string]bool{}
			var items []json.RawMessage
			for page := 1; ; page++ {
				var coll struct {
					Count int               `json:"count"`
					Items []json.RawMessage `json:"items"`
				}
				if err := json.Unmarshal(get(t, s, mpksPath(org, fmt.Sprintf("page=%d&per_page=100&sort_by=updated_at&sort_order=asc", page))).body, &coll); err != nil {
					t.Fatal(err)
				}
				items = append(items, coll.Items...)
				if len(items) >= coll.Count {
					break
				}
			}
			for i, item := range items {
				h := headOf(t, item)
				if _, dup := out[h.ID]; dup {
					t.Fatalf("MPK id %d served twice (or in two organizations)", h.ID)
				}
				out[h.ID] = seenMPK{org, h.UpdatedAt, h.CreatedAt}
				created, updated := instant(t, h.CreatedAt), instant(t, h.UpdatedAt)
				if created.After(clk.Now()) || updated.After(clk.Now()) || updated.Before(created) {
					t.Errorf("MPK %d: created %s, updated %s, now %s", h.ID, h.CreatedAt, h.UpdatedAt, clk.Now())
				}
				n := utf8.RuneCountInString(h.Name)
				if h.Name == "" || n > 255 || names[h.Name] {
					t.Errorf("%s: MPK %d: name %q (%d characters) empty, too long or not unique", org, h.ID, h.Name, n)
				}
				names[h.Name] = true
				if n == 255 {
					longNames++
				}
				offsets[h.UpdatedAt[len(h.UpdatedAt)-6:]] = true
				if i > 0 && headOf(t, items[i-1]).UpdatedAt == h.UpdatedAt {
					ties++
				}
			}
		}
		if ties == 0 || longNames == 0 || !offsets["+01:00"] || !offsets["+02:00"] {
			t.Errorf("%d updated_at ties, %d names of 255 characters, offsets %v: want some of each, and both Polish offsets", ties, longNames, offsets)
		}
		if len(out) != s.Truth().Records {
			t.Errorf("served %d MPKs, Truth says %d", len(out), s.Truth().Records)
		}
		return out
	}
	before := served()
	clk.Set(testNow.Add(3 * 24 * time.Hour))
	after := served()
	created, updated := 0, 0
	for id, m := range after {
		b, ok := before[id]
		switch {
		case !ok:
			created++
		case b.org != m.org || b.created != m.created:
			t.Errorf("MPK %d changed organization or created_at", id)
		case b.updated != m.updated:
			updated++
		}
	}
	if len(after) < len(before) || created == 0 || updated == 0 {
		t.Errorf("after 3 days: %d MPKs (was %d), %d created, %d updated: want more of each", len(after), len(before), created, updated)
	}
}

// wire is a list response's top-level attributes exactly as sent.
type wire struct {
	Count, Page, PerPage json.RawMessage
	Items                []json.RawMessage
}

func listWire(t *testing.T, s http.Handler, org, query string) wire {
	t.Helper()
	resp := get(t, s, mpksPath(org, query))
	if resp.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", mpksPath(org, query), resp.status, resp.body)
	}
	var w struct {
		Count   json.RawMessage   `json:"count"`
		Page    json.RawMessage   `json:"page"`
		PerPage json.RawMessage   `json:"per_page"`
		Items   []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		t.Fatalf("%s: %v: %s", mpksPath(org, query), err, resp.body)
	}
	return wire{w.Count, w.Page, w.PerPage, w.Items}
}

// field returns one attribute of an item exactly as sent.
func field(t *testing.T, item json.RawMessage, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(item, &m); err != nil {
		t.Fatalf("%v: %s", err, item)
	}
	return string(m[key])
}

// pageQuery is page n of the source's order, per_page items each.
func pageQuery(n, perPage int) string {
	return fmt.Sprintf("page=%d&per_page=%d&sort_by=updated_at&sort_order=desc", n, perPage)
}

// TestSimulatorServesTheOtherReadings checks each other reading of the seed on the wire,
// against the default reading's bytes of the same simulator: only what the reading changes
// differs, and the MPKs, their order and the Truth stay the same.
func TestSimulatorServesTheOtherReadings(t *testing.T) {
	const perPage = 40
	opts := sim.Options{Seed: 7, Records: 300, Now: providertest.Fixed(testNow)}
	base := inpost.Provider{}.NewSimulator(opts)
	total := len(listWire(t, base, "1", "per_page=100&page=1").Items) + len(listWire(t, base, "1", "per_page=100&page=2").Items)
	last := (total + perPage - 1) / perPage
	if total <= perPage || total%perPage == 0 || total > 200 {
		t.Fatalf("organization 1 holds %d MPKs: want a last page neither full nor the first", total)
	}
	with := func(r sim.Readings) sim.Simulator {
		o := opts
		o.Readings = r
		return inpost.Provider{}.NewSimulator(o)
	}
	sameTruth := func(t *testing.T, s sim.Simulator) {
		t.Helper()
		got, want := s.Truth(), base.Truth()
		if got.Records != want.Records || len(want.IDs) != want.Records || !slices.Equal(got.IDs, want.IDs) {
			t.Errorf("truth: %d MPKs %v…, the default reading's %d %v…", got.Records, got.IDs[:3], want.Records, want.IDs[:3])
		}
	}

	t.Run("count is the page's items", func(t *testing.T) {
		s := with(sim.Readings{InPostCountIsPageSize: true})
		for page := 1; page <= last; page++ {
			got, want := listWire(t, s, "1", pageQuery(page, perPage)), listWire(t, base, "1", pageQuery(page, perPage))
			if string(got.Count) != strconv.Itoa(len(want.Items)) || string(want.Count) != strconv.Itoa(total) {
				t.Errorf("page %d: count %s, the default's %s; want %d (its items) and %d (the list)", page, got.Count, want.Count, len(want.Items), total)
			}
			if !reflect.DeepEqual(got.Items, want.Items) || string(got.Page) != string(want.Page) || string(got.PerPage) != string(want.PerPage) {
				t.Errorf("page %d: items, page or per_page differ from the default reading", page)
			}
		}
		sameTruth(t, s)
	})

	t.Run("a page past the last repeats the last", func(t *testing.T) {
		s := with(sim.Readings{InPostRepeatLastPage: true})
		lastPage := listWire(t, base, "1", pageQuery(last, perPage))
		for _, past := range []int{last + 1, last + 7} {
			got := listWire(t, s, "1", pageQuery(past, perPage))
			if string(got.Page) != strconv.Itoa(last) || string(got.Count) != strconv.Itoa(total) || !reflect.DeepEqual(got.Items, lastPage.Items) {
				t.Errorf("page %d: page %s, count %s, %d items; want page %d again (%d items), count %d", past, got.Page, got.Count, len(got.Items), last, len(lastPage.Items), total)
			}
			if def := listWire(t, base, "1", pageQuery(past, perPage)); len(def.Items) != 0 || string(def.Page) != strconv.Itoa(past) {
				t.Errorf("the default reading serves page %d as page %s with %d items, want it empty", past, def.Page, len(def.Items))
			}
		}
		for page := 1; page <= last; page++ {
			if got, want := listWire(t, s, "1", pageQuery(page, perPage)), listWire(t, base, "1", pageQuery(page, perPage)); !reflect.DeepEqual(got, want) {
				t.Errorf("page %d differs from the default reading", page)
			}
		}
		if n := s.Truth().Requests["repeated 1"]; n != 2 {
			t.Errorf("Requests[repeated 1] = %d, want 2", n)
		}
		sameTruth(t, s)
	})

	t.Run("ids and numbers as strings", func(t *testing.T) {
		s := with(sim.Readings{InPostStringIDs: true})
		got, want := listWire(t, s, "1", pageQuery(2, perPage)), listWire(t, base, "1", pageQuery(2, perPage))
		if string(got.Count) != strconv.Quote(strconv.Itoa(total)) || string(got.Page) != `"2"` || string(got.PerPage) != `"40"` {
			t.Errorf("count %s, page %s, per_page %s; want strings %q, \"2\", \"40\"", got.Count, got.Page, got.PerPage, strconv.Itoa(total))
		}
		if len(got.Items) != len(want.Items) {
			t.Fatalf("%d items, the default reading %d", len(got.Items), len(want.Items))
		}
		for i, item := range got.Items {
			id := field(t, want.Items[i], "id")
			if field(t, item, "id") != strconv.Quote(id) {
				t.Fatalf("item %d: id %s, want the string %q", i, field(t, item, "id"), id)
			}
			// Nothing else changes: unquoting the id gives the default's bytes.
			if unq := bytes.Replace(item, []byte(`"id":"`+id+`"`), []byte(`"id":`+id), 1); !bytes.Equal(unq, want.Items[i]) {
				t.Fatalf("item %d: %s\nwant, but for the id, %s", i, item, want.Items[i])
			}
			if i == 0 {
				if one := get(t, s, "/v1/mpks/"+id); one.status != http.StatusOK || !bytes.Equal(one.body, item) {
					t.Errorf("GET /v1/mpks/%s = %d %s, want the listed item", id, one.status, one.body)
				}
			}
		}
		sameTruth(t, s)
	})

	t.Run("times in UTC with microseconds", func(t *testing.T) {
		s := with(sim.Readings{InPostUTCTimes: true})
		utc := regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"$`)
		submilli := 0
		for _, org := range inpost.SimOrganizations() {
			q := "page=1&per_page=100&sort_by=updated_at&sort_order=desc"
			got, want := listWire(t, s, org, q), listWire(t, base, org, q)
			if len(got.Items) != len(want.Items) || len(got.Items) == 0 {
				t.Fatalf("organization %s: %d items, the default reading %d", org, len(got.Items), len(want.Items))
			}
			for i, item := range got.Items {
				if field(t, item, "id") != field(t, want.Items[i], "id") || field(t, item, "name") != field(t, want.Items[i], "name") {
					t.Fatalf("organization %s: item %d is MPK %s, the default reading's %s: the order changed", org, i, field(t, item, "id"), field(t, want.Items[i], "id"))
				}
				for _, k := range []string{"created_at", "updated_at"} {
					raw := field(t, item, k)
					if !utc.MatchString(raw) {
						t.Fatalf("MPK %s: %s %s is not UTC with Z and microseconds", field(t, item, "id"), k, raw)
					}
					var a, b string
					_ = json.Unmarshal([]byte(raw), &a)
					_ = json.Unmarshal([]byte(field(t, want.Items[i], k)), &b)
					if d := instant(t, a).Sub(instant(t, b)); d < time.Microsecond || d >= time.Millisecond {
						t.Fatalf("MPK %s: %s %s is %s after the default reading's %s: want the same millisecond", field(t, item, "id"), k, a, d, b)
					}
					if !strings.HasSuffix(a, "000Z") {
						submilli++
					}
				}
				// Ties stay ties, and only they: the order by updated_at can be checked
				// against the default reading's.
				if i > 0 {
					tie := field(t, item, "updated_at") == field(t, got.Items[i-1], "updated_at")
					if defTie := field(t, want.Items[i], "updated_at") == field(t, want.Items[i-1], "updated_at"); tie != defTie {
						t.Fatalf("organization %s: items %d and %d tie %v, in the default reading %v", org, i-1, i, tie, defTie)
					}
				}
			}
		}
		if submilli == 0 {
			t.Error("no time has microseconds beyond its milliseconds")
		}
		sameTruth(t, s)
	})

	t.Run("all of them", func(t *testing.T) {
		s := with(sim.Readings{InPostCountIsPageSize: true, InPostRepeatLastPage: true, InPostStringIDs: true, InPostUTCTimes: true})
		got := listWire(t, s, "1", pageQuery(last+1, perPage))
		lastPage := listWire(t, base, "1", pageQuery(last, perPage))
		if string(got.Page) != strconv.Quote(strconv.Itoa(last)) || string(got.Count) != strconv.Quote(strconv.Itoa(len(lastPage.Items))) || len(got.Items) != len(lastPage.Items) {
			t.Errorf("page %d: page %s, count %s, %d items; want page \"%d\" again, count \"%d\"", last+1, got.Page, got.Count, len(got.Items), last, len(lastPage.Items))
		}
		if id := field(t, got.Items[0], "id"); id != strconv.Quote(strings.Trim(field(t, lastPage.Items[0], "id"), `"`)) || !strings.HasSuffix(field(t, got.Items[0], "updated_at"), `Z"`) {
			t.Errorf("item %s: want a string id and a UTC time", got.Items[0])
		}
		sameTruth(t, s)
	})
}

// TestSimulatorCostCentersAreWhatItServes: SimCostCenters, what the full-chain tests compare
// ClickHouse with, is what a client reads from the list, in every reading.
func TestSimulatorCostCentersAreWhatItServes(t *testing.T) {
	for _, r := range []sim.Readings{{}, {InPostStringIDs: true, InPostUTCTimes: true}} {
		s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: 80, Now: providertest.Fixed(testNow), Readings: r})
		served := map[string]inpost.SimCostCenter{}
		for _, org := range inpost.SimOrganizations() {
			for _, item := range listWire(t, s, org, "per_page=100").Items {
				var m struct {
					ID          json.Number `json:"id"`
					Name        string      `json:"name"`
					Description string      `json:"description"`
					CreatedAt   string      `json:"created_at"`
					UpdatedAt   string      `json:"updated_at"`
				}
				if err := json.Unmarshal(item, &m); err != nil {
					t.Fatal(err)
				}
				served[m.ID.String()] = inpost.SimCostCenter{
					ID: m.ID.String(), Organization: org, Name: m.Name, Description: m.Description,
					CreatedAt: instant(t, m.CreatedAt).UTC(), UpdatedAt: instant(t, m.UpdatedAt).UTC(),
				}
			}
		}
		ccs := inpost.SimCostCenters(s)
		if ids := s.Truth().IDs; len(ccs) != len(served) || len(ids) != len(ccs) {
			t.Fatalf("%+v: SimCostCenters lists %d, the list serves %d, Truth %d", r, len(ccs), len(served), len(ids))
		}
		for i, cc := range ccs {
			if cc.ID != s.Truth().IDs[i] || !reflect.DeepEqual(cc, served[cc.ID]) {
				t.Fatalf("%+v: SimCostCenters[%d] = %+v, served %+v", r, i, cc, served[cc.ID])
			}
		}
	}
}

// TestSourceReadsEveryReadingOfTheSimulator polls the simulator with the source under each
// other reading and all together: every MPK once, as served, and nothing more from the
// checkpoint. The page size is the smallest organization's MPK count, so its list ends on a
// full page (and the source asks for the page after it) while the others span two pages.
func TestSourceReadsEveryReadingOfTheSimulator(t *testing.T) {
	opts := sim.Options{Seed: 5, Records: 90, Now: providertest.Fixed(testNow)}
	perOrg := map[string]int{}
	for _, cc := range inpost.SimCostCenters(inpost.Provider{}.NewSimulator(opts)) {
		perOrg[cc.Organization]++
	}
	smallest := inpost.SimOrganizations()[0]
	for org, n := range perOrg {
		if n < perOrg[smallest] {
			smallest = org
		}
	}
	pageSize := perOrg[smallest]
	for org, n := range perOrg {
		if org != smallest && (n <= pageSize || n > 2*pageSize) {
			t.Fatalf("MPKs per organization %v: want the others between one and two pages of %d", perOrg, pageSize)
		}
	}
	for name, r := range map[string]sim.Readings{
		"count is the page's items":             {InPostCountIsPageSize: true},
		"a page past the last repeats the last": {InPostRepeatLastPage: true},
		"ids and numbers as strings":            {InPostStringIDs: true},
		"times in UTC with microseconds":        {InPostUTCTimes: true},
		"all of them":                           {InPostCountIsPageSize: true, InPostRepeatLastPage: true, InPostStringIDs: true, InPostUTCTimes: true},
	} {
		t.Run(name, func(t *testing.T) {
			o := opts
			o.Readings = r
			s := inpost.Provider{}.NewSimulator(o)
			srv := providertest.Serve(t, s)
			cfg := testConfig(srv.URL)
			cfg.PageSize = pageSize
			src := newSource(t, cfg, srv.Client())
			var ids []string
			for _, org := range inpost.SimOrganizations() {
				recs := providertest.FetchAll(t, src, org, "")
				for _, rec := range recs {
					if rec.Next == "" {
						t.Fatalf("organization %s: record %s without a checkpoint (unplaceable?): %s", org, rec.ID, rec.Data)
					}
					one := get(t, s, "/v1/mpks/"+rec.ID)
					if !bytes.Equal(one.body, rec.Data) {
						t.Fatalf("MPK %s emitted as %s, served as %s", rec.ID, rec.Data, one.body)
					}
					ids = append(ids, rec.ID)
				}
				if again := providertest.FetchAll(t, src, org, last(recs, "")); len(again) != 0 {
					t.Errorf("organization %s: %d records again from the checkpoint, want none", org, len(again))
				}
			}
			slices.Sort(ids)
			if truth := s.Truth(); !slices.Equal(ids, truth.IDs) {
				t.Fatalf("emitted %d MPKs, the simulator holds %d", len(ids), len(truth.IDs))
			}
			if n := s.Truth().Requests["repeated "+smallest]; r.InPostRepeatLastPage != (n > 0) {
				t.Errorf("pages past the last served as the last again: %d (reading %v)", n, r.InPostRepeatLastPage)
			}
		})
	}
}
