package inpost_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// testNow is "now" in the tests: the simulator's MPKs are created 2026-10-21 … 2026-11-22, so
// some exist only once the clock moves on, and the DST change of 2026-10-25 lies inside.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConfig points at a simulator served at url with its token, small pages (so ties cross
// page boundaries) and fast retries.
func testConfig(url string) inpost.Config {
	return inpost.Config{
		BaseURL:       url,
		AccessToken:   inpost.SimAccessToken,
		Organizations: inpost.SimOrganizations(),
		PageSize:      3,
		Backoff:       poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

func newClient(t *testing.T, cfg inpost.Config, hc *http.Client) *inpost.Client {
	t.Helper()
	c, err := inpost.NewClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// head is what the tests read of an MPK.
type head struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func headOf(t testing.TB, item []byte) head {
	t.Helper()
	var h head
	if err := json.Unmarshal(item, &h); err != nil {
		t.Fatalf("%v: %s", err, item)
	}
	return h
}

func instant(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// listAll reads an organization's whole list in one page, in the order asked.
func listAll(t *testing.T, c *inpost.Client, org, order string) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	for n := 1; ; n++ {
		p, err := c.MPKs(t.Context(), org, inpost.ListQuery{Page: n, PerPage: 100, SortBy: inpost.SortByUpdatedAt, SortOrder: order})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if !p.More() {
			return all
		}
	}
}

func TestClientPagesThroughTies(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 7, Records: 300, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	whole := newClient(t, testConfig(srv.URL), srv.Client())
	paged := newClient(t, func() inpost.Config { c := testConfig(srv.URL); c.PageSize = 2; return c }(), srv.Client())

	tiesAcrossPages := 0
	for _, org := range inpost.SimOrganizations() {
		for _, order := range []string{inpost.SortAsc, inpost.SortDesc} {
			want := listAll(t, whole, org, order)
			var got []json.RawMessage
			for n := 1; ; n++ {
				p, err := paged.MPKs(t.Context(), org, inpost.ListQuery{Page: n, SortBy: inpost.SortByUpdatedAt, SortOrder: order})
				if err != nil {
					t.Fatal(err)
				}
				if p.Count != len(want) || p.PerPage != 2 {
					t.Fatalf("%s page %d: count %d per_page %d, want %d and 2", org, n, p.Count, p.PerPage, len(want))
				}
				if len(got) > 0 && len(p.Items) > 0 && headOf(t, got[len(got)-1]).UpdatedAt == headOf(t, p.Items[0]).UpdatedAt {
					tiesAcrossPages++
				}
				got = append(got, p.Items...)
				if !p.More() {
					break
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s %s: pages of 2 gave %d MPKs, pages of 100 %d", org, order, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s %s: MPK %d differs between paged and whole reads", org, order, i)
				}
				if i == 0 {
					continue
				}
				prev, cur := instant(t, headOf(t, got[i-1]).UpdatedAt), instant(t, headOf(t, got[i]).UpdatedAt)
				if (order == inpost.SortAsc && cur.Before(prev)) || (order == inpost.SortDesc && cur.After(prev)) {
					t.Fatalf("%s %s: MPK %d out of updated_at order", org, order, i)
				}
			}
		}
	}
	if tiesAcrossPages == 0 {
		t.Fatal("no page boundary cut through MPKs sharing an updated_at: the test proves nothing")
	}
}

func TestClientKeepsItemBytes(t *testing.T) {
	body := providertest.Testdata(t, "lista_200.json")
	// An unknown field must survive byte for byte too.
	body = bytes.Replace(body, []byte(`"name": "First",`), []byte(`"name": "First", "budget": {"limit": 7.10},`), 1)
	var got http.Header
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("X-Query", r.URL.RawQuery)
		got.Set("X-Path", r.URL.Path)
		w.Write(body)
	}))
	cfg := testConfig(srv.URL + "/gateway/")
	cfg.AccessToken = "Bearer " + inpost.SimAccessToken // pasted with its scheme: not doubled
	page, err := newClient(t, cfg, srv.Client()).MPKs(t.Context(), "1", inpost.ListQuery{Page: 4, SortBy: "updated_at", SortOrder: "desc"})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer " + inpost.SimAccessToken,
		"X-User-Agent":  "chargeline",
		"X-Path":        "/gateway/v1/organizations/1/mpks",
		"X-Query":       "page=4&per_page=3&sort_by=updated_at&sort_order=desc",
	} {
		if got.Get(h) != want {
			t.Errorf("request %s = %q, want %q", h, got.Get(h), want)
		}
	}
	if len(page.Items) != 3 || page.Count != 3 || page.PerPage != 30 || page.Number != 4 {
		t.Fatalf("page = %d items, count %d, per_page %d, number %d; want 3, 3, 30 (the response's), 4", len(page.Items), page.Count, page.PerPage, page.Number)
	}
	for i, item := range page.Items {
		if !bytes.Contains(body, item) || !bytes.HasPrefix(item, []byte("{\n      \"href\"")) {
			t.Errorf("item %d is not the bytes the API sent:\n%s", i, item)
		}
	}
	if !bytes.Contains(page.Items[0], []byte(`"budget": {"limit": 7.10}`)) {
		t.Errorf("unknown field lost: %s", page.Items[0])
	}
}

func TestPageMore(t *testing.T) {
	items := func(n int) []json.RawMessage { return make([]json.RawMessage, n) }
	tests := []struct {
		name string
		page inpost.Page
		want bool
	}{
		{"empty page", inpost.Page{Items: items(0), Number: 1, PerPage: 3, Count: 10}, false},
		{"short page", inpost.Page{Items: items(2), Number: 1, PerPage: 3, Count: 10}, false},
		{"full page, count says more", inpost.Page{Items: items(3), Number: 3, PerPage: 3, Count: 10}, true},
		{"full page, count covered", inpost.Page{Items: items(3), Number: 2, PerPage: 3, Count: 6}, false},
		{"full page, no count", inpost.Page{Items: items(3), Number: 9, PerPage: 3, Count: -1}, true},
		// The page's own count, or a total of exactly one page: only page 2 tells.
		{"full page, count equals its items", inpost.Page{Items: items(3), Number: 1, PerPage: 3, Count: 3}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.page.More(); got != tc.want {
				t.Errorf("More() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientServerCapsPerPage(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 3, Records: 400, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.PageSize = 500 // the simulator serves at most 100 and says so in per_page
	c := newClient(t, cfg, srv.Client())
	var n int
	for page := 1; ; page++ {
		p, err := c.MPKs(t.Context(), "1", inpost.ListQuery{Page: page})
		if err != nil {
			t.Fatal(err)
		}
		if p.PerPage != 100 {
			t.Fatalf("per_page %d, want the server's 100", p.PerPage)
		}
		n += len(p.Items)
		if !p.More() {
			if n != p.Count || p.Count <= 100 {
				t.Fatalf("read %d MPKs over %d pages, count %d: want all of more than one capped page", n, page, p.Count)
			}
			return
		}
	}
}

func TestClientGetsOneMPK(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: 120, Now: clk.Now})
	srv := providertest.Serve(t, s)
	c := newClient(t, testConfig(srv.URL), srv.Client())
	listed := listAll(t, c, "2", inpost.SortAsc)
	if len(listed) == 0 {
		t.Fatal("organization 2 has no MPKs")
	}
	for _, item := range []json.RawMessage{listed[0], listed[len(listed)-1]} {
		id := headOf(t, item).ID
		got, err := c.MPK(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, item) {
			t.Errorf("GET /v1/mpks/%d = %s, the list has %s", id, got, item)
		}
		if n := s.Truth().Requests["mpk "+jsonInt(id)]; n != 1 {
			t.Errorf("mpk %d: %d requests, want 1", id, n)
		}
	}

	// An MPK created after now is unknown until the clock reaches it; then GET sees it.
	var future int64
	for id := int64(1); ; id++ {
		_, err := c.MPK(t.Context(), id)
		if errors.Is(err, inpost.ErrResourceNotFound) {
			future = id
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.MPK(t.Context(), future)
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "resource_not_found") || !strings.Contains(err.Error(), "mpk "+jsonInt(future)) {
		t.Fatalf("unknown MPK: %v; want a permanent resource_not_found naming the id", err)
	}
	clk.Set(testNow.AddDate(0, 0, 3))
	if item, err := c.MPK(t.Context(), future); err != nil || headOf(t, item).ID != future {
		t.Fatalf("after the clock passed its creation, GET /v1/mpks/%d = %s, %v", future, item, err)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestClientHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(1, providertest.Respond(http.StatusTooManyRequests, "3",
			`{"status":429,"error":"too_many_requests","message":"Too many requests.","details":{}}`), s)
		cfg := testConfig("http://inpost.invalid")
		cfg.Backoff = poll.Backoff{} // poll's defaults: Retry-After is not capped below 3s
		providertest.CheckRetried(t, 3*time.Second, func() error {
			_, err := newClient(t, cfg, providertest.HandlerClient(h)).MPKs(t.Context(), "1", inpost.ListQuery{})
			return err
		}, h)
	})
}

func TestClientRetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow), Faults: sim.Faults{ServerErrorEvery: 1}})
		ok := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(2, failing, ok) // two 500s, then success
		c := newClient(t, testConfig("http://inpost.invalid"), providertest.HandlerClient(h))
		providertest.CheckRetried(t, 0, func() error {
			_, err := c.MPKs(t.Context(), "1", inpost.ListQuery{})
			return err
		}, h)
		h.Reset() // GET /v1/mpks/1 gets the same two 500s
		providertest.CheckRetried(t, 0, func() error {
			_, err := c.MPK(t.Context(), 1)
			return err
		}, h)
	})
}

func TestClientMalformedBodyIsRetriedThenReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"count":3,"page":1,"per_page":30,"items":[{"id":3,"na`)) // cut short
		})}
		cfg := testConfig("http://inpost.invalid")
		cfg.Backoff.MaxAttempts = 3
		_, err := newClient(t, cfg, providertest.HandlerClient(c)).MPKs(t.Context(), "2", inpost.ListQuery{Page: 5})
		if err == nil {
			t.Fatal("a truncated body was accepted")
		}
		if c.Count() != 3 {
			t.Errorf("%d requests, want 3 attempts", c.Count())
		}
		if errors.Is(err, poll.ErrAuth) || errors.Is(err, poll.ErrPermanent) {
			t.Errorf("a malformed page is neither auth nor permanent: %v", err)
		}
		for _, want := range []string{`organization "2"`, "mpks page 5", "malformed response body"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

func TestClientRefusals(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		cfg    func(*inpost.Config)
		org    string
		query  inpost.ListQuery
		is     []error
		isNot  []error
		says   []string
	}{
		{
			name: "expired token", faults: sim.Faults{ExpiredToken: true}, org: "2",
			is: []error{poll.ErrAuth}, isNot: []error{poll.ErrPermanent},
			says: []string{`organization "2"`, "HTTP 401 token_expired", "INPOST_ACCESS_TOKEN"},
		},
		{
			name: "wrong token", cfg: func(c *inpost.Config) { c.AccessToken = "not-the-token" }, org: "1",
			is: []error{poll.ErrAuth}, isNot: []error{poll.ErrPermanent},
			says: []string{"HTTP 401 token_invalid", "INPOST_ACCESS_TOKEN"},
		},
		{
			name: "token demanded but absent", faults: sim.Faults{MissingToken: true}, org: "1",
			is: []error{poll.ErrAuth}, says: []string{"HTTP 401"},
		},
		{
			name: "unknown organization is a configuration error", org: "999",
			is: []error{poll.ErrPermanent, inpost.ErrResourceNotFound}, isNot: []error{poll.ErrAuth},
			says: []string{`organization "999"`, "INPOST_ORGANIZATIONS", "HTTP 404 resource_not_found"},
		},
		{
			name: "sort the API refuses", org: "1", query: inpost.ListQuery{SortBy: "colour"},
			is: []error{poll.ErrPermanent, inpost.ErrValidationFailed}, says: []string{"HTTP 400 validation_failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &providertest.Counter{H: inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow), Faults: tc.faults})}
				cfg := testConfig("http://inpost.invalid")
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				_, err := newClient(t, cfg, providertest.HandlerClient(c)).MPKs(t.Context(), tc.org, tc.query)
				for _, target := range tc.is {
					if !errors.Is(err, target) {
						t.Errorf("errors.Is(%v, %v) = false", err, target)
					}
				}
				for _, target := range tc.isNot {
					if errors.Is(err, target) {
						t.Errorf("errors.Is(%v, %v) = true", err, target)
					}
				}
				for _, want := range tc.says {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("error %v does not say %q", err, want)
					}
				}
				if err != nil && strings.Contains(err.Error(), inpost.SimAccessToken) {
					t.Errorf("error shows the access token: %v", err)
				}
				if c.Count() != 1 {
					t.Errorf("%d requests: a refusal must not be retried", c.Count())
				}
			})
		})
	}
}

func TestClientMaxPageBytes(t *testing.T) {
	// The seed's list with its items repeated: about 2 KiB.
	body := bytes.Replace(providertest.Testdata(t, "lista_200.json"), []byte(`"items": [`), []byte(`"items": [`+strings.Repeat(string(providertest.Testdata(t, "struktura.json"))+",", 6)), 1)
	c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	srv := providertest.Serve(t, c)
	cfg := testConfig(srv.URL)
	cfg.MaxPageBytes = 1024
	_, err := newClient(t, cfg, srv.Client()).MPKs(t.Context(), "1", inpost.ListQuery{})
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "INPOST_MAX_PAGE_BYTES") || !strings.Contains(err.Error(), "INPOST_PAGE_SIZE") {
		t.Fatalf("oversized page: %v; want a permanent error naming INPOST_MAX_PAGE_BYTES and INPOST_PAGE_SIZE", err)
	}
	if c.Count() != 1 {
		t.Errorf("%d requests: an oversized page is not retried", c.Count())
	}
}

// TestDecodeErrorExamples decodes ShipX's documented error bodies (the general API
// documentation's examples; the MPK seed only names resource_not_found) and bodies that are
// not ShipX's.
func TestDecodeErrorExamples(t *testing.T) {
	tests := []struct {
		name   string
		body   []byte
		status int
		code   string
		is     error
	}{
		{"resource_not_found", providertest.Testdata(t, "blad_404_resource_not_found.json"), 404, inpost.CodeResourceNotFound, poll.ErrPermanent},
		{"validation_failed", providertest.Testdata(t, "blad_400_validation_failed.json"), 400, inpost.CodeValidationFailed, poll.ErrPermanent},
		{"401 with a ShipX body", []byte(`{"status":401,"error":"token_invalid","message":"Access token is invalid.","details":{}}`), 401, "token_invalid", poll.ErrAuth},
		{"403 from a proxy, HTML", []byte(`<html><body>Forbidden</body></html>`), 403, "", poll.ErrAuth},
		{"500 without body", nil, 500, "", nil},
		{"429 with a ShipX body", []byte(`{"status":429,"error":"too_many_requests","message":"Slow down"}`), 429, "too_many_requests", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := inpost.DecodeError(tc.status, tc.body)
			if err.Code != tc.code || err.Message == "" || err.Status != tc.status {
				t.Errorf("decoded %+v, want status %d, code %q and a message", err, tc.status, tc.code)
			}
			for _, s := range []error{poll.ErrAuth, poll.ErrPermanent} {
				if got := errors.Is(err, s); got != (s == tc.is) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
		})
	}
}

func FuzzDecodeCollection(f *testing.F) {
	for _, name := range []string{"lista_200.json", "blad_404_resource_not_found.json", "blad_400_validation_failed.json", "struktura.json"} {
		f.Add(providertest.Testdata(f, name))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"items":null}`, `{"items":[1,"x",null]}`, `{"items":{}}`,
		`{"count":-1,"page":0,"per_page":-5,"items":[{}]}`, `{"count":1e3}`, ` {"items":[]} trailing`, `{"items":[{"id":1}],"items":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		coll, err := inpost.DecodeCollection(body)
		again, err2 := inpost.DecodeCollection(body)
		if (err == nil) != (err2 == nil) || len(coll.Items) != len(again.Items) {
			t.Fatal("decoding is not deterministic")
		}
		if err == nil {
			for _, item := range coll.Items {
				if !json.Valid(item) || !bytes.Contains(body, item) || bytes.TrimSpace(item)[0] != '{' {
					t.Fatalf("item %q is not a JSON object taken from the body", item)
				}
			}
		}
		for _, status := range []int{400, 401, 404, 429, 500} {
			e := inpost.DecodeError(status, body)
			if e == nil || e.Status != status || len(e.Message) > 400 || len(e.Code) > 400 {
				t.Fatalf("DecodeError(%d) = %+v", status, e)
			}
			_ = e.Error()
		}
	})
}

func TestConfigValidate(t *testing.T) {
	valid := testConfig("http://127.0.0.1:8081")
	tests := []struct {
		name string
		mod  func(*inpost.Config)
		want []string // nil = valid
	}{
		{"valid", func(*inpost.Config) {}, nil},
		{"no organizations", func(c *inpost.Config) { c.Organizations = nil }, []string{"--inpost-organizations/INPOST_ORGANIZATIONS must list at least one organization id"}},
		{"duplicate organization", func(c *inpost.Config) { c.Organizations = []string{"1", "1"} }, []string{`--inpost-organizations/INPOST_ORGANIZATIONS lists "1" twice`}},
		{"organization that is not an id", func(c *inpost.Config) { c.Organizations = []string{"acme.pl"} }, []string{`--inpost-organizations/INPOST_ORGANIZATIONS must hold ShipX organization ids (decimal integers like 1234), got "acme.pl"`}},
		{"relative base URL", func(c *inpost.Config) { c.BaseURL = "api-shipx-pl.easypack24.net" }, []string{"--inpost-base-url/INPOST_BASE_URL must be an absolute http(s) URL"}},
		{"token that is only the scheme", func(c *inpost.Config) { c.AccessToken = "Bearer " }, []string{"--inpost-access-token/INPOST_ACCESS_TOKEN is required"}},
		{"every problem at once", func(c *inpost.Config) {
			c.AccessToken, c.PageSize, c.MaxPageBytes = "", -1, 10
		}, []string{
			"--inpost-access-token/INPOST_ACCESS_TOKEN is required",
			"--inpost-page-size/INPOST_PAGE_SIZE must be ≥ 1, got -1",
			"--inpost-max-page-bytes/INPOST_MAX_PAGE_BYTES must be ≥ 1024, got 10",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mod(&cfg)
			providertest.CheckValidate(t, cfg.Validate(), tc.want)
		})
	}
}

func TestProviderNewSourceFromSettings(t *testing.T) {
	p := inpost.Provider{}
	v := providertest.Values(t, p, inpost.SimEnv("http://127.0.0.1:8081"))
	if _, err := p.NewSource(v, nil); err != nil {
		t.Fatalf("NewSource with the simulator's settings: %v", err)
	}
	src, err := p.NewSource(v.With("inpost-organizations", "1,org-two"), nil)
	if src != nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "--inpost-organizations/INPOST_ORGANIZATIONS") {
		t.Fatalf("NewSource with a bad organization = %v, %v; want nil and an error naming the setting", src, err)
	}
	if strings.Contains(err.Error(), inpost.SimAccessToken) {
		t.Errorf("the error shows a secret: %v", err)
	}
}
