package inpost_test

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
