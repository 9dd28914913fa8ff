package pip_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// testNow is "now" in the tests: the simulator's sessions complete from 2026-11-13 on.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testPageSize puts the first page boundary inside the simulator's group of five sessions
// sharing one completion time (indexes 4–8) and leaves its group of 9 larger than a page.
const testPageSize = 6

// inMemory is the base URL of a simulator served through providertest.HandlerClient.
const inMemory = "http://pip.invalid"

// newSim returns a simulator with test-sized pages.
func newSim(opts sim.Options) sim.Simulator {
	return pip.Provider{SimPageSize: testPageSize}.NewSimulator(opts)
}

// testConfig authenticates with client credentials at the simulator served at url, with
// test-sized pages and fast retries.
func testConfig(url string) pip.Config {
	return pip.Config{
		BaseURL:      url,
		TokenURL:     url + pip.SimTokenPath,
		ClientID:     pip.SimClientID,
		ClientSecret: pip.SimClientSecret,
		PageSize:     testPageSize,
		Backoff:      poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

// staticConfig authenticates with the simulator's static token.
func staticConfig(url string) pip.Config {
	cfg := testConfig(url)
	cfg.TokenURL, cfg.ClientID, cfg.ClientSecret = "", "", ""
	cfg.AccessToken = pip.SimAccessToken
	return cfg
}

// recorder counts the requests that reach h, by path and by response status.
type recorder struct {
	h        http.Handler
	mu       sync.Mutex
	paths    map[string]int
	statuses map[int]int
}

func record(h http.Handler) *recorder {
	return &recorder{h: h, paths: map[string]int{}, statuses: map[int]int{}}
}

func (c *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	c.h.ServeHTTP(sw, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paths[r.URL.Path]++
	c.statuses[sw.status]++
}

func (c *recorder) tokens() int { return c.path(pip.SimTokenPath) }
func (c *recorder) exports() int {
	return c.path("/v1/data-export/posten/invoicing") + c.path("/v1/data-export/bring/invoicing")
}

func (c *recorder) path(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[p]
}

func (c *recorder) status(s int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statuses[s]
}

func (c *recorder) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.paths {
		n += v
	}
	return n
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// swap serves whichever handler was set last.
type swap struct {
	mu sync.Mutex
	h  http.Handler
}

func (s *swap) set(h http.Handler) { s.mu.Lock(); s.h = h; s.mu.Unlock() }
func (s *swap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

func newClient(t *testing.T, cfg pip.Config, hc *http.Client) *pip.Client {
	t.Helper()
	c, err := pip.NewClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientSendsTheDocumentedRequestAndKeepsBytes(t *testing.T) {
	body := providertest.Testdata(t, "getposteninvoicingdata_200.json")
	// An unknown field must survive byte for byte.
	body = bytes.Replace(body, []byte(`"storeNumber": "2130",`), []byte(`"storeNumber": "2130", "lockerBank": {"slots": 24.0},`), 1)
	var got http.Header
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("X-Path", r.URL.Path)
		got.Set("X-Query", r.URL.RawQuery)
		w.Write(body)
	}))
	cfg := staticConfig(srv.URL + "/gateway/")
	page, err := newClient(t, cfg, srv.Client()).Invoicing(t.Context(), "2013-10-20T19:20:30+01:00")
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer " + pip.SimAccessToken,
		"Accept":        "application/json",
		"X-Path":        "/gateway/v1/data-export/posten/invoicing",
		"X-Query":       "completedAfter=2013-10-20T19%3A20%3A30%2B01%3A00",
	} {
		if got.Get(h) != want {
			t.Errorf("request %s = %q, want %q", h, got.Get(h), want)
		}
	}
	if page.ExportedThrough != "2023-01-01T12:00:00Z" || len(page.Sessions) != 2 {
		t.Fatalf("page: exportedThrough %q, %d sessions", page.ExportedThrough, len(page.Sessions))
	}
	for i, item := range page.Sessions {
		if !bytes.Contains(body, item) || !bytes.HasPrefix(item, []byte("{\n      \"sessionId\"")) {
			t.Errorf("session %d is not the bytes the API sent:\n%s", i, item)
		}
	}
	if !bytes.Contains(page.Sessions[0], []byte(`"lockerBank": {"slots": 24.0}`)) {
		t.Errorf("unknown field lost: %s", page.Sessions[0])
	}

	if _, err := newClient(t, cfg, srv.Client()).Invoicing(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if q := got.Get("X-Query"); q != "" {
		t.Errorf("the first request of an export sent %q, want no completedAfter (from the beginning)", q)
	}
}

func TestClientCachesTheToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := record(newSim(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)}))
		c := newClient(t, testConfig(inMemory), providertest.HandlerClient(rec))
		for range 3 {
			if _, err := c.Invoicing(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
		}
		if rec.tokens() != 1 || rec.exports() != 3 {
			t.Errorf("%d token requests for %d export requests, want 1 for 3", rec.tokens(), rec.exports())
		}
	})
}

func TestClientRefreshesTheTokenBeforeItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The simulator's clock is the bubble's: its tokens live five minutes of it.
		rec := record(newSim(sim.Options{Seed: 1, Records: 30, Now: time.Now}))
		c := newClient(t, testConfig(inMemory), providertest.HandlerClient(rec))
		call := func() {
			t.Helper()
			if _, err := c.Invoicing(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
		}
		call()
		time.Sleep(4 * time.Minute) // one minute left: the cached token still serves
		call()
		if n := rec.tokens(); n != 1 {
			t.Fatalf("%d token requests with four minutes of a five-minute token used, want 1", n)
		}
		time.Sleep(40 * time.Second) // 20s left, inside the 30s margin
		call()
		if n := rec.tokens(); n != 2 {
			t.Fatalf("%d token requests after 4m40s, want 2: the token is replaced before it expires", n)
		}
		if n := rec.status(http.StatusUnauthorized); n != 0 {
			t.Errorf("the API refused %d requests: a token was used after it expired", n)
		}
	})
}

func TestClientReplacesARefusedTokenOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)}
		sw := &swap{}
		sw.set(newSim(opts))
		c := newClient(t, testConfig(inMemory), providertest.HandlerClient(sw))
		if _, err := c.Invoicing(t.Context(), ""); err != nil {
			t.Fatal(err)
		}

		// A restarted API forgets the cached token: one 401, one new token, success.
		restarted := record(newSim(opts))
		sw.set(restarted)
		if _, err := c.Invoicing(t.Context(), ""); err != nil {
			t.Fatalf("after the API forgot the token: %v", err)
		}
		if restarted.status(http.StatusUnauthorized) != 1 || restarted.tokens() != 1 || restarted.exports() != 2 {
			t.Errorf("401s %d, token requests %d, export requests %d; want 1, 1, 2",
				restarted.status(http.StatusUnauthorized), restarted.tokens(), restarted.exports())
		}

		// An API that refuses every token: the new one is refused too, and that is final.
		refusing := record(newSim(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow), Faults: sim.Faults{ExpiredToken: true}}))
		sw.set(refusing)
		_, err := c.Invoicing(t.Context(), "")
		if !errors.Is(err, poll.ErrAuth) {
			t.Fatalf("Invoicing = %v, want poll.ErrAuth", err)
		}
		if refusing.exports() != 2 || refusing.tokens() != 1 {
			t.Errorf("%d export and %d token requests, want 2 and 1: refresh once, then give up", refusing.exports(), refusing.tokens())
		}
	})
}

// TestClientSurvivesATokenThatExpiresEarly: under Faults.TokenLifetime the simulator's tokens
// stop working after a minute while expires_in still says five (the chaos run's "PIP token that
// expires mid-run"). The client replaces the refused token and goes on without an error.
func TestClientSurvivesATokenThatExpiresEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := record(newSim(sim.Options{Seed: 1, Records: 30, Now: time.Now, Faults: sim.Faults{TokenLifetime: time.Minute}}))
		c := newClient(t, testConfig(inMemory), providertest.HandlerClient(rec))
		for i := range 3 {
			if _, err := c.Invoicing(t.Context(), ""); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			time.Sleep(90 * time.Second) // past the real lifetime, well within the announced one
		}
		if rec.status(http.StatusUnauthorized) != 2 || rec.tokens() != 3 {
			t.Errorf("%d refusals and %d token requests, want 2 and 3: each expired token is replaced once",
				rec.status(http.StatusUnauthorized), rec.tokens())
		}
	})
}

func TestClientRefusals(t *testing.T) {
	tests := []struct {
		name     string
		faults   sim.Faults
		cfg      func(*pip.Config)
		after    string
		is       error
		says     []string
		requests int // token and export requests together
	}{
		{
			name: "static token refused", cfg: func(c *pip.Config) { *c = staticConfig(inMemory); c.AccessToken = "not-the-token" },
			is: poll.ErrAuth, says: []string{"HTTP 401", "Missing or invalid authentication", "PIP_ACCESS_TOKEN"}, requests: 1,
		},
		{
			name: "fresh client-credentials token refused: no refresh", faults: sim.Faults{ExpiredToken: true},
			is: poll.ErrAuth, says: []string{"HTTP 401", "PIP_CLIENT_ID"}, requests: 2,
		},
		{
			name: "token demanded but absent", faults: sim.Faults{MissingToken: true}, cfg: func(c *pip.Config) { *c = staticConfig(inMemory) },
			is: poll.ErrAuth, says: []string{"HTTP 401"}, requests: 1,
		},
		{
			name: "client without the export permission", cfg: func(c *pip.Config) { c.ClientID = pip.SimClientIDNoExport },
			is: poll.ErrAuth, says: []string{"HTTP 403", "Insufficient permissions for data export", "permission denied"}, requests: 2,
		},
		{
			name: "wrong client secret", cfg: func(c *pip.Config) { c.ClientSecret = "wrong-secret" },
			is: poll.ErrAuth, says: []string{"token endpoint", "HTTP 401 invalid_client", "PIP_CLIENT_SECRET"}, requests: 1,
		},
		{
			name: "completedAfter the API refuses", after: "yesterday",
			is: poll.ErrPermanent, says: []string{"HTTP 400", "Invalid completedAfter parameter format", "bug",
				"GET " + inMemory + "/v1/data-export/posten/invoicing?completedAfter=yesterday"}, requests: 2,
		},
		{
			name: "unknown export", cfg: func(c *pip.Config) { c.Export = "bring" },
			is: poll.ErrPermanent, says: []string{"HTTP 404", "PIP_EXPORT"}, requests: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := record(newSim(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow), Faults: tc.faults}))
				cfg := testConfig(inMemory)
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				_, err := newClient(t, cfg, providertest.HandlerClient(rec)).Invoicing(t.Context(), tc.after)
				if !errors.Is(err, tc.is) {
					t.Fatalf("Invoicing = %v, want an error wrapping %v", err, tc.is)
				}
				for _, want := range tc.says {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				for _, secret := range []string{pip.SimClientSecret, "wrong-secret", "not-the-token", pip.SimAccessToken, "sim-cc-"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a credential (%s): %v", secret, err)
					}
				}
				if n := rec.total(); n != tc.requests {
					t.Errorf("%d requests, want %d: a refusal is not retried", n, tc.requests)
				}
			})
		})
	}
}

func TestClientRetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		token := providertest.FailFirst(1, providertest.Respond(http.StatusBadGateway, "", ""), s)
		export := providertest.FailFirst(2, providertest.Respond(http.StatusInternalServerError, "",
			string(providertest.Testdata(t, "getposteninvoicingdata_500.json"))), s)
		h := onPath(pip.SimTokenPath, token, export)
		var page pip.Page
		providertest.CheckRetried(t, 0, func() error {
			var err error
			page, err = newClient(t, testConfig(inMemory), providertest.HandlerClient(h)).Invoicing(t.Context(), "")
			return err
		}, token, export)
		if len(page.Sessions) == 0 {
			t.Error("no sessions after the retries")
		}
	})
}

func TestClientHonoursRetryAfter(t *testing.T) {
	for _, path := range []string{pip.SimTokenPath, "/v1/data-export/posten/invoicing"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSim(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
				limited := providertest.FailFirst(1, providertest.Respond(http.StatusTooManyRequests, "3", ""), s)
				cfg := testConfig(inMemory)
				cfg.Backoff = poll.Backoff{} // poll's defaults: Retry-After is not capped below 3s
				providertest.CheckRetried(t, 3*time.Second, func() error {
					_, err := newClient(t, cfg, providertest.HandlerClient(onPath(path, limited, s))).Invoicing(t.Context(), "")
					return err
				}, limited)
			})
		})
	}
}

// onPath sends the requests for path to h and every other request to rest: a failure in front
// of one endpoint only (the token or the export), so a retry test sees which call retried.
func onPath(path string, h, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			h.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

func TestClientMalformedBodyIsRetriedThenReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := record(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"exportedThrough":null,"data":[{"sessionId":"0b6f`)) // cut short
		}))
		cfg := staticConfig(inMemory)
		cfg.Backoff.MaxAttempts = 3
		_, err := newClient(t, cfg, providertest.HandlerClient(rec)).Invoicing(t.Context(), "2026-11-19T10:00:00Z")
		if err == nil {
			t.Fatal("a truncated body was accepted")
		}
		if rec.total() != 3 {
			t.Errorf("%d requests, want 3 attempts", rec.total())
		}
		if errors.Is(err, poll.ErrAuth) || errors.Is(err, poll.ErrPermanent) {
			t.Errorf("a malformed page is neither auth nor permanent: %v", err)
		}
		for _, want := range []string{`export "posten"`, "completedAfter 2026-11-19T10:00:00Z", "malformed response body", "gave up after 3 attempts"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

func TestClientMaxPageBytes(t *testing.T) {
	rec := record(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat(providertest.Testdata(t, "getposteninvoicingdata_200.json"), 3))
	}))
	srv := providertest.Serve(t, rec)
	cfg := staticConfig(srv.URL)
	cfg.MaxPageBytes = 1024
	_, err := newClient(t, cfg, srv.Client()).Invoicing(t.Context(), "")
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "PIP_MAX_PAGE_BYTES") {
		t.Fatalf("oversized page: %v; want a permanent error naming PIP_MAX_PAGE_BYTES", err)
	}
	if rec.total() != 1 {
		t.Errorf("%d requests: an oversized page is not retried", rec.total())
	}
}

func TestDecodePage(t *testing.T) {
	const (
		before = "2026-11-19T00:00:00Z"
		later  = "2026-11-20T10:00:00Z"
	)
	tests := []struct {
		name    string
		body    string
		field   string // PIP_RECORDS_FIELD
		after   string // the request's completedAfter
		n       int
		key     string
		through string
		// wantErr is what the error says; permanent whether it wraps poll.ErrPermanent (a shape
		// the client cannot read) rather than being a malformed body (retried).
		wantErr   string
		permanent bool
	}{
		{name: "seed example", body: string(providertest.Testdata(t, "getposteninvoicingdata_200.json")), n: 2, key: "data", through: "2023-01-01T12:00:00Z"},
		{name: "empty export", body: `{"exportedThrough":null,"data":[]}`, key: "data"},
		{name: "null data, no exportedThrough", body: `{"data":null}`},
		{name: "bare array", body: `[{"sessionId":"a"},{"sessionId":"b"}]`, n: 2},
		{name: "unknown envelope fields kept out of the way", body: `{"data":[{}],"exportedThrough":"2023-01-01T12:00:00.5+01:00","total":1}`, n: 1, key: "data", through: "2023-01-01T12:00:00.5+01:00"},

		// The list under another key: the one array of objects.
		{name: "list under sessions", body: `{"exportedThrough":"` + later + `","sessions":[{"sessionId":"a"},{"sessionId":"b"}]}`, after: before, n: 2, key: "sessions", through: later},
		{name: "list under items beside an object and scalars", body: `{"count":2,"links":{"next":null},"items":[{"sessionId":"a"},{"sessionId":"b"}],"exportedThrough":"` + later + `"}`, n: 2, key: "items", through: later},
		{name: "a list keeps its items that are not objects", body: `{"records":[{"sessionId":"a"},"garbage",null]}`, n: 3, key: "records"},
		{name: "beside an array of strings", body: `{"warnings":["slow"],"sessions":[{"sessionId":"a"}]}`, n: 1, key: "sessions"},
		{name: "beside an empty array", body: `{"errors":[],"sessions":[{"sessionId":"a"}]}`, n: 1, key: "sessions"},
		{name: "several arrays of objects", body: `{"sessions":[{"sessionId":"a"}],"links":[{"rel":"next"}]}`,
			wantErr: `several arrays of objects ("links", "sessions"): cannot tell which one holds the sessions; set --pip-records-field/PIP_RECORDS_FIELD`, permanent: true},

		// Empty pages: nothing to read, and nothing claimed.
		{name: "one empty array is the list, even with exportedThrough moving on", body: `{"exportedThrough":"` + later + `","sessions":[]}`, after: before, key: "sessions", through: later},
		{name: "several empty arrays, exportedThrough unchanged", body: `{"exportedThrough":"` + before + `","sessions":[],"errors":[]}`, after: before, through: before},
		{name: "several empty arrays, exportedThrough null", body: `{"exportedThrough":null,"sessions":[],"errors":[]}`, after: before},
		{name: "no array, exportedThrough unchanged", body: `{"exportedThrough":"` + before + `","count":0}`, after: before, through: before},
		{name: "no array, exportedThrough before completedAfter", body: `{"exportedThrough":"2026-11-18T00:00:00Z"}`, after: before, through: "2026-11-18T00:00:00Z"},
		{name: "no array, no exportedThrough", body: `{}`},
		{name: "an object where the list was, nothing claimed", body: `{"data":{"sessionId":"a"}}`},

		// No list in a body that says sessions were exported.
		{name: "several empty arrays, exportedThrough moved", body: `{"exportedThrough":"` + later + `","sessions":[],"errors":[]}`, after: before,
			wantErr: `no array of objects to read the sessions from, though exportedThrough says sessions were exported; keys: "errors" (array of 0), "exportedThrough" (string), "sessions" (array of 0)`, permanent: true},
		{name: "no array, exportedThrough from the beginning", body: `{"exportedThrough":"` + later + `","count":0}`,
			wantErr: `keys: "count" (number), "exportedThrough" (string); set --pip-records-field/PIP_RECORDS_FIELD if they are elsewhere`, permanent: true},
		{name: "only an array of strings", body: `{"exportedThrough":"` + later + `","ids":["a","b"]}`, after: before,
			wantErr: `"ids" (array of 2)`, permanent: true},
		{name: "the list nested deeper", body: `{"exportedThrough":"` + later + `","result":{"sessions":[{"sessionId":"a"}]}}`, after: before,
			wantErr: `"result" (object)`, permanent: true},

		// PIP_RECORDS_FIELD names the list.
		{name: "field picks one of several arrays", body: `{"exportedThrough":"` + later + `","sessions":[{"sessionId":"a"}],"links":[{"rel":"next"}]}`, field: "sessions", after: before, n: 1, key: "sessions", through: later},
		{name: "field empty", body: `{"exportedThrough":"` + later + `","sessions":[]}`, field: "sessions", after: before, key: "sessions", through: later},
		{name: "field null", body: `{"sessions":null}`, field: "sessions", key: "sessions"},
		{name: "field left out of an empty page", body: `{"exportedThrough":"` + before + `","data":[]}`, field: "sessions", after: before, through: before},
		{name: "field left out, exportedThrough moved", body: `{"exportedThrough":"` + later + `","data":[{"sessionId":"a"}]}`, field: "sessions", after: before,
			wantErr: `no field "sessions" (--pip-records-field/PIP_RECORDS_FIELD), though exportedThrough says sessions were exported; keys: "data" (array of 1), "exportedThrough" (string)`, permanent: true},
		{name: "field not an array", body: `{"data":{"sessionId":"a"}}`, field: "data",
			wantErr: `field "data" (--pip-records-field/PIP_RECORDS_FIELD) is not an array; keys: "data" (object)`, permanent: true},

		// Malformed bodies: retried.
		{name: "exportedThrough not a date-time", body: `{"data":[],"exportedThrough":"soon"}`, wantErr: "exportedThrough"},
		{name: "exportedThrough a number", body: `{"data":[],"exportedThrough":1672574400}`, wantErr: "exportedThrough is not a string"},
		{name: "not JSON", body: `<html>gateway timeout</html>`, wantErr: "not a JSON object"},
		{name: "empty", body: ``, wantErr: "empty body"},
		{name: "trailing data", body: `{"data":[]} {}`, wantErr: "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := pip.DecodePage([]byte(tc.body), tc.field, tc.after)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodePage = %v, want an error saying %q", err, tc.wantErr)
				}
				if errors.Is(err, poll.ErrPermanent) != tc.permanent {
					t.Errorf("errors.Is(%v, poll.ErrPermanent) = %v, want %v", err, !tc.permanent, tc.permanent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			through := ""
			if r.ExportedThrough != nil {
				through = *r.ExportedThrough
			}
			if len(r.Sessions) != tc.n || r.RecordsKey != tc.key || through != tc.through {
				t.Errorf("got %d sessions under %q through %q, want %d under %q through %q", len(r.Sessions), r.RecordsKey, through, tc.n, tc.key, tc.through)
			}
			for _, item := range r.Sessions {
				if !bytes.Contains([]byte(tc.body), item) {
					t.Errorf("session %s is not the bytes of the body", item)
				}
			}
		})
	}
}

// TestClientFindsTheRecordsUnderAnyKey: the simulator serving its list under another key
// (Readings.RecordsKey) is read as it is, found or named; a body the client cannot read is a
// permanent error naming the keys, asked for once.
func TestClientFindsTheRecordsUnderAnyKey(t *testing.T) {
	for _, tc := range []struct{ key, field string }{{"sessions", ""}, {"records", "records"}, {"data", ""}} {
		t.Run(tc.key+" "+tc.field, func(t *testing.T) {
			s := newSim(sim.Options{Seed: 1, Records: 4, Now: providertest.Fixed(testNow), Readings: sim.Readings{RecordsKey: tc.key}})
			cfg := staticConfig(inMemory)
			cfg.RecordsField = tc.field
			page, err := newClient(t, cfg, providertest.HandlerClient(s)).Invoicing(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			ids, _ := pip.SimSessions(s)
			if len(page.Sessions) != len(ids) || page.ExportedThrough == "" {
				t.Fatalf("%d sessions through %q, want the simulator's %d", len(page.Sessions), page.ExportedThrough, len(ids))
			}
		})
	}
	t.Run("several candidates", func(t *testing.T) {
		rec := record(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"exportedThrough":"2026-11-20T10:00:00Z","items":[{"sessionId":"a"}],"sessions":[{"sessionId":"b"}]}`))
		}))
		_, err := newClient(t, staticConfig(inMemory), providertest.HandlerClient(rec)).Invoicing(t.Context(), "2026-11-19T10:00:00Z")
		if !errors.Is(err, poll.ErrPermanent) {
			t.Fatalf("Invoicing = %v, want poll.ErrPermanent", err)
		}
		for _, want := range []string{`"items", "sessions"`, "PIP_RECORDS_FIELD", "GET " + inMemory + "/v1/data-export/posten/invoicing?completedAfter="} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if rec.total() != 1 {
			t.Errorf("%d requests: a body of an unreadable shape is not retried", rec.total())
		}
	})
	t.Run("the simulator's other key under a field set to data", func(t *testing.T) {
		s := newSim(sim.Options{Seed: 1, Records: 4, Now: providertest.Fixed(testNow), Readings: sim.Readings{RecordsKey: "sessions"}})
		cfg := staticConfig(inMemory)
		cfg.RecordsField = "data"
		_, err := newClient(t, cfg, providertest.HandlerClient(s)).Invoicing(t.Context(), "")
		if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), `no field "data"`) || !strings.Contains(err.Error(), `"sessions" (array of `) {
			t.Fatalf("Invoicing = %v, want a permanent error naming the keys seen", err)
		}
	})
}

func TestDecodeErrorSeedExamples(t *testing.T) {
	tests := []struct {
		status int
		code   string
		is     error
		says   string
	}{
		{400, "bad_request", poll.ErrPermanent, "bug"},
		{401, "unauthorized", poll.ErrAuth, "bearer token was refused"},
		{403, "forbidden", poll.ErrAuth, "permission denied"},
		{500, "internal_server_error", nil, "HTTP 500"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			body := providertest.Testdata(t, "getposteninvoicingdata_"+strconv.Itoa(tc.status)+".json")
			err := pip.DecodeError(tc.status, body, "GET http://pip/v1/data-export/posten/invoicing")
			if err.Code != tc.code || err.Message == "" || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("decoded %+v (%v), want code %s, a message, and %q", err, err, tc.code, tc.says)
			}
			for _, s := range []error{poll.ErrAuth, poll.ErrPermanent} {
				if got := errors.Is(err, s); got != (s == tc.is) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
		})
	}
	t.Run("OAuth-style and plain bodies", func(t *testing.T) {
		e := pip.DecodeError(401, []byte(`{"error":"invalid_token","error_description":"expired"}`), "")
		if e.Code != "invalid_token" || e.Message != "expired" {
			t.Errorf("OAuth body: %+v", e)
		}
		e = pip.DecodeError(502, []byte("<html>Bad gateway</html>"), "")
		if e.Message != "Bad Gateway: <html>Bad gateway</html>" {
			t.Errorf("plain body: %+v", e)
		}
	})
}

func FuzzDecodePage(f *testing.F) {
	f.Add(providertest.Testdata(f, "getposteninvoicingdata_200.json"))
	for _, name := range []string{"400", "401", "403", "500"} {
		f.Add(providertest.Testdata(f, "getposteninvoicingdata_"+name+".json"))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"data":null}`, `{"data":[1,"x",null]}`, `[1,{"a":`,
		`{"data":[],"exportedThrough":""}`, `{"data":[],"exportedThrough":"2023-01-01T12:00:00"}`, ` {"data":[]} trailing`,
		`{"sessions":[{"a":1}],"links":[{"rel":"x"}]}`, `{"exportedThrough":"2023-01-01T12:00:00Z","a":[],"b":[]}`, `{"items":[{},7],"n":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := pip.DecodePage(body, "", "")
		again, err2 := pip.DecodePage(body, "", "")
		if (err == nil) != (err2 == nil) || len(r.Sessions) != len(again.Sessions) || r.RecordsKey != again.RecordsKey {
			t.Fatal("decoding is not deterministic")
		}
		if named, err3 := pip.DecodePage(body, "data", ""); err == nil && r.RecordsKey == "data" && (err3 != nil || len(named.Sessions) != len(r.Sessions)) {
			t.Fatalf("the list found under data differs from PIP_RECORDS_FIELD=data: %v", err3)
		}
		if err != nil {
			return
		}
		for _, item := range r.Sessions {
			if !json.Valid(item) || !bytes.Contains(body, item) {
				t.Fatalf("data item %q is not valid JSON taken from the body", item)
			}
		}
		if r.ExportedThrough != nil && *r.ExportedThrough == "" {
			t.Fatal("an empty exportedThrough was kept")
		}
		for _, status := range []int{400, 401, 403, 429, 500} {
			e := pip.DecodeError(status, body, "GET x")
			if e == nil || e.Status != status || len(e.Message) > 400 || len(e.Code) > 400 {
				t.Fatalf("DecodeError(%d) = %+v", status, e)
			}
			_ = e.Error()
		}
	})
}

// BenchmarkDecodePage decodes a full page of 1000 sessions, the poller's hot path per request.
func BenchmarkDecodePage(b *testing.B) {
	page := make([]json.RawMessage, 1000)
	for i := range page {
		page[i], _ = json.Marshal(map[string]string{"sessionId": fmt.Sprintf("0b6f3c1e-8d2a-4e57-9a0c-%012d", i), "pipId": "PIP-10231", "storeNumber": "2130", "completedAt": "2026-11-20T10:00:00Z"})
	}
	body, _ := json.Marshal(map[string]any{"exportedThrough": "2026-11-20T10:00:00Z", "data": page})
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := pip.DecodePage(body, "", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := testConfig("http://127.0.0.1:8081/pip")
	tests := []struct {
		name string
		mod  func(*pip.Config)
		want []string // nil = valid
	}{
		{"client credentials", func(*pip.Config) {}, nil},
		{"static token", func(c *pip.Config) { *c = staticConfig("http://127.0.0.1:8081/pip") }, nil},
		{"no credentials", func(c *pip.Config) { c.TokenURL, c.ClientID, c.ClientSecret = "", "", "" },
			[]string{"credentials are required: set --pip-access-token/PIP_ACCESS_TOKEN, or --pip-token-url/PIP_TOKEN_URL"}},
		{"both ways", func(c *pip.Config) { c.AccessToken = "t" },
			[]string{"--pip-access-token/PIP_ACCESS_TOKEN and --pip-token-url/PIP_TOKEN_URL", "are both set"}},
		{"client credentials incomplete", func(c *pip.Config) { c.TokenURL, c.ClientSecret = "", "" }, []string{
			"--pip-token-url/PIP_TOKEN_URL is required with client credentials",
			"--pip-client-secret/PIP_CLIENT_SECRET is required with client credentials",
		}},
		{"relative token URL", func(c *pip.Config) { c.TokenURL = "auth.mobai.cloud/token" },
			[]string{"--pip-token-url/PIP_TOKEN_URL must be an absolute http(s) URL"}},
		{"every other problem at once", func(c *pip.Config) {
			c.BaseURL, c.Export, c.PageSize, c.StartAfter, c.MaxPageBytes, c.TokenAuthStyle = "ftp://x", "Posten/2", -1, "2023-01-01", 10, "cookie"
		}, []string{
			"--pip-base-url/PIP_BASE_URL must be an absolute http(s) URL", `--pip-export/PIP_EXPORT must be a lower-case path segment like posten, got "Posten/2"`,
			"--pip-page-size/PIP_PAGE_SIZE must be ≥ 1, got -1", `--pip-start-after/PIP_START_AFTER must be an ISO 8601 date-time like 2026-01-01T00:00:00Z, got "2023-01-01"`,
			"--pip-max-page-bytes/PIP_MAX_PAGE_BYTES must be ≥ 1024, got 10", `--pip-token-auth-style/PIP_TOKEN_AUTH_STYLE must be header or params, got "cookie"`,
		}},
		{"records field named after the cursor", func(c *pip.Config) { c.RecordsField = "exportedThrough" },
			[]string{"--pip-records-field/PIP_RECORDS_FIELD must name the record list, not the cursor field exportedThrough"}},
		{"records field", func(c *pip.Config) { c.RecordsField = "sessions" }, nil},
		{"base URL with a password stays hidden", func(c *pip.Config) { c.BaseURL = "http://u:hunter2@x?q=1" },
			[]string{"must not carry a query, got http://u:xxxxx@x?q=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mod(&cfg)
			err := cfg.Validate()
			if !providertest.CheckValidate(t, err, tc.want) {
				return
			}
			if strings.Contains(err.Error(), pip.SimClientSecret) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Validate() shows a secret: %v", err)
			}
		})
	}
}

func TestProviderNewSourceFromSettings(t *testing.T) {
	p := pip.Provider{}
	v := providertest.Values(t, p, pip.SimEnv("http://127.0.0.1:8081/pip"))
	if _, err := p.NewSource(v, nil); err != nil {
		t.Fatalf("NewSource with the simulator's settings: %v", err)
	}
	src, err := p.NewSource(v.With("pip-access-token", pip.SimAccessToken), nil)
	if src != nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "are both set") {
		t.Fatalf("NewSource with two ways to authenticate = %v, %v; want nil and an error naming the settings", src, err)
	}
	if strings.Contains(err.Error(), pip.SimAccessToken) || strings.Contains(err.Error(), pip.SimClientSecret) {
		t.Errorf("the error shows a secret: %v", err)
	}
	if _, err := p.NewSource(v.With("pip-records-field", "exportedThrough"), nil); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "PIP_RECORDS_FIELD") {
		t.Fatalf("NewSource with PIP_RECORDS_FIELD=exportedThrough: %v; want an error naming the setting", err)
	}
	static := v.With("pip-token-url", "", "pip-client-id", "", "pip-client-secret", "", "pip-access-token", pip.SimAccessToken)
	if _, err := p.NewSource(static, nil); err != nil {
		t.Fatalf("NewSource with a static token: %v", err)
	}
}
