package bemo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// testNow is "now" in the tests: the simulator's sessions cover 2026-11-13 … 2026-11-20.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConfig points at a simulator served at url with its credentials, small pages (so ties
// cross page boundaries) and fast retries.
func testConfig(url string) bemo.Config {
	return bemo.Config{
		BaseURL:         url,
		AccessToken:     bemo.SimAccessToken,
		SubscriptionKey: bemo.SimSubscriptionKey,
		Accounts:        bemo.SimAccounts(),
		PageSize:        3,
		SettleDays:      1,
		StartDate:       "2026-11-12",
		Backoff:         poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

func newClient(t *testing.T, cfg bemo.Config, hc *http.Client) *bemo.Client {
	t.Helper()
	c, err := bemo.NewClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func day(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}

func startOf(t *testing.T, item json.RawMessage) string {
	t.Helper()
	var s struct {
		SessionStartDate string `json:"sessionStartDate"`
	}
	if err := json.Unmarshal(item, &s); err != nil {
		t.Fatal(err)
	}
	return s.SessionStartDate
}

func TestClientPagesThroughTies(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 7, Records: 300, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	one := newClient(t, func() bemo.Config { c := testConfig(srv.URL); c.PageSize = 1000; return c }(), srv.Client())
	paged := newClient(t, func() bemo.Config { c := testConfig(srv.URL); c.PageSize = 2; return c }(), srv.Client())

	tiesAcrossPages := 0
	for _, acc := range bemo.SimAccounts() {
		for d := day("2026-11-13"); !d.After(day("2026-11-20")); d = d.AddDate(0, 0, 1) {
			q := bemo.SessionsQuery{From: d, To: d}
			whole, err := one.Sessions(t.Context(), acc, q)
			if err != nil {
				t.Fatal(err)
			}
			if whole.Full() {
				t.Fatalf("%s %s: one page of 1000 is full; raise the page size", acc, d)
			}
			var got []json.RawMessage
			for q.Offset = 0; ; q.Offset++ {
				p, err := paged.Sessions(t.Context(), acc, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 0 && len(p.Sessions) > 0 && startOf(t, got[len(got)-1]) == startOf(t, p.Sessions[0]) {
					tiesAcrossPages++
				}
				got = append(got, p.Sessions...)
				if !p.Full() {
					break
				}
			}
			if len(got) != len(whole.Sessions) {
				t.Fatalf("%s %s: pages of 2 gave %d sessions, one page %d", acc, d.Format("2006-01-02"), len(got), len(whole.Sessions))
			}
			for i := range got {
				if !bytes.Equal(got[i], whole.Sessions[i]) {
					t.Fatalf("%s %s: session %d differs between paged and whole reads", acc, d.Format("2006-01-02"), i)
				}
			}
		}
	}
	if tiesAcrossPages == 0 {
		t.Fatal("no page boundary cut through sessions sharing a start time: the test proves nothing")
	}
}

func TestClientKeepsSessionBytes(t *testing.T) {
	envelope := providertest.Testdata(t, "getsessionsbyaccount_200.json")
	// An unknown field must survive byte for byte too.
	envelope = bytes.Replace(envelope, []byte(`"zipCode": "10243"`), []byte(`"zipCode": "10243", "loyalty": {"card": 7.10}`), 1)
	var got http.Header
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("X-Query", r.URL.RawQuery)
		got.Set("X-Path", r.URL.Path)
		w.Write(envelope)
	}))
	cfg := testConfig(srv.URL + "/gateway/")
	page, err := newClient(t, cfg, srv.Client()).Sessions(t.Context(), "acc/1", bemo.SessionsQuery{From: day("2021-02-11"), To: day("2021-02-12"), Offset: 4})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Authorization":        bemo.SimAccessToken,
		"Api-Subscription-Key": bemo.SimSubscriptionKey,
		"X-Path":               "/gateway/reporting/v1/api/accounts/acc/1/sessions",
		"X-Query":              "from=2021-02-11&limit=3&offset=4&to=2021-02-12",
	} {
		if got.Get(h) != want {
			t.Errorf("request %s = %q, want %q", h, got.Get(h), want)
		}
	}
	if len(page.Sessions) != 2 {
		t.Fatalf("got %d sessions, want 2", len(page.Sessions))
	}
	for i, item := range page.Sessions {
		if !bytes.Contains(envelope, item) || !bytes.HasPrefix(item, []byte("{\n      \"address\"")) {
			t.Errorf("session %d is not the bytes the API sent:\n%s", i, item)
		}
	}
	if !bytes.Contains(page.Sessions[0], []byte(`"loyalty": {"card": 7.10}`)) {
		t.Errorf("unknown field lost: %s", page.Sessions[0])
	}
}

func TestClientAcceptRangeCapsPageSize(t *testing.T) {
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Accept-Range", "2")
		w.Write(providertest.Testdata(t, "getsessionsbyaccount_200.json")) // two sessions although limit=3
	}))
	page, err := newClient(t, testConfig(srv.URL), srv.Client()).Sessions(t.Context(), "acc-1", bemo.SessionsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !page.Full() {
		t.Fatal("a page of Accept-Range sessions must count as full, or a capping server loses data")
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(1, providertest.Respond(http.StatusTooManyRequests, "3",
			`{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3 seconds."}`), s)
		cfg := testConfig("http://bemo.invalid")
		cfg.Backoff = poll.Backoff{} // poll's defaults: Retry-After is not capped below 3s
		providertest.CheckRetried(t, 3*time.Second, func() error {
			_, err := newClient(t, cfg, providertest.HandlerClient(h)).Sessions(t.Context(), "acc-1", bemo.SessionsQuery{})
			return err
		}, h)
	})
}

func TestClientRetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow), Faults: sim.Faults{ServerErrorEvery: 1}})
		ok := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(2, s, ok) // two 500s, then success
		providertest.CheckRetried(t, 0, func() error {
			_, err := newClient(t, testConfig("http://bemo.invalid"), providertest.HandlerClient(h)).Sessions(t.Context(), "acc-1", bemo.SessionsQuery{})
			return err
		}, h)
	})
}

func TestClientMalformedBodyIsRetriedThenReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"status":"Success","errors":null,"data":[{"sessionId":"3fc8`)) // cut short
		})}
		cfg := testConfig("http://bemo.invalid")
		cfg.Backoff.MaxAttempts = 3
		_, err := newClient(t, cfg, providertest.HandlerClient(c)).Sessions(t.Context(), "acc-2", bemo.SessionsQuery{From: day("2026-11-19"), To: day("2026-11-19"), Offset: 1})
		if err == nil {
			t.Fatal("a truncated body was accepted")
		}
		if c.Count() != 3 {
			t.Errorf("%d requests, want 3 attempts", c.Count())
		}
		if errors.Is(err, poll.ErrAuth) || errors.Is(err, poll.ErrPermanent) {
			t.Errorf("a malformed page is neither auth nor permanent: %v", err)
		}
		for _, want := range []string{`account "acc-2"`, "2026-11-19..2026-11-19 page 1", "malformed response body"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

func TestClientRefusals(t *testing.T) {
	tests := []struct {
		name    string
		faults  sim.Faults
		cfg     func(*bemo.Config)
		account string
		is      []error
		says    []string
	}{
		{
			name: "expired token", faults: sim.Faults{ExpiredToken: true}, account: "acc-2",
			is:   []error{poll.ErrAuth, bemo.ErrTokenExpired},
			says: []string{`account "acc-2"`, "401 TokenExpired", "the JWT is expired", "BEMO_ACCESS_TOKEN"},
		},
		{
			name: "token the API cannot decode", cfg: func(c *bemo.Config) { c.AccessToken = "not-a-jwt" }, account: "acc-1",
			is:   []error{poll.ErrAuth, bemo.ErrInvalidJWT},
			says: []string{`account "acc-1"`, "InvalidJWT", "BEMO_ACCESS_TOKEN"},
		},
		{
			name: "token demanded but absent", faults: sim.Faults{MissingToken: true}, account: "acc-1",
			is:   []error{poll.ErrAuth, bemo.ErrTokenNotPresent},
			says: []string{"TokenNotPresent"},
		},
		{
			name: "wrong subscription key (gateway body)", cfg: func(c *bemo.Config) { c.SubscriptionKey = "nope" }, account: "acc-3",
			is:   []error{poll.ErrAuth},
			says: []string{`account "acc-3"`, "HTTP 401", "invalid subscription key", "BEMO_SUBSCRIPTION_KEY"},
		},
		{
			name: "unknown account", account: "acc-404",
			is:   []error{poll.ErrPermanent, bemo.ErrResourceNotFound},
			says: []string{`account "acc-404"`, "404 ResourceNotFound"},
		},
		{
			name: "limit the API refuses", cfg: func(c *bemo.Config) { c.PageSize = 5000 }, account: "acc-1",
			is:   []error{poll.ErrPermanent, bemo.ErrArgument},
			says: []string{"400 ArgumentException", "limit must be"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &providertest.Counter{H: bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow), Faults: tc.faults})}
				cfg := testConfig("http://bemo.invalid")
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				_, err := newClient(t, cfg, providertest.HandlerClient(c)).Sessions(t.Context(), tc.account, bemo.SessionsQuery{})
				for _, target := range tc.is {
					if !errors.Is(err, target) {
						t.Errorf("errors.Is(%v, %v) = false", err, target)
					}
				}
				for _, want := range tc.says {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("error %v does not say %q", err, want)
					}
				}
				if err != nil && strings.Contains(err.Error(), bemo.SimAccessToken) {
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
	c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(providertest.Testdata(t, "getsessionsbyaccount_200.json"))
	})}
	srv := providertest.Serve(t, c)
	cfg := testConfig(srv.URL)
	cfg.MaxPageBytes = 1024
	_, err := newClient(t, cfg, srv.Client()).Sessions(t.Context(), "acc-1", bemo.SessionsQuery{})
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "BEMO_MAX_PAGE_BYTES") || !strings.Contains(err.Error(), "BEMO_PAGE_SIZE") {
		t.Fatalf("oversized page: %v; want a permanent error naming BEMO_MAX_PAGE_BYTES and BEMO_PAGE_SIZE", err)
	}
	if c.Count() != 1 {
		t.Errorf("%d requests: an oversized page is not retried", c.Count())
	}
}

func TestDecodeErrorSeedExamples(t *testing.T) {
	tests := []struct {
		file   string
		status int
		code   string
		is     error
	}{
		{"getsessionsbyaccount_400_invalidfromdate.json", 400, bemo.CodeArgumentException, poll.ErrPermanent},
		{"getsessionsbyaccount_400_invalidtodate.json", 400, bemo.CodeArgumentException, poll.ErrPermanent},
		{"getsessionsbyaccount_401_invalidjwt.json", 401, bemo.CodeInvalidJWT, poll.ErrAuth},
		{"getsessionsbyaccount_401_tokenexpired.json", 401, bemo.CodeTokenExpired, poll.ErrAuth},
		{"getsessionsbyaccount_401_tokennotpresent.json", 401, bemo.CodeTokenNotPresent, poll.ErrAuth},
		{"getsessionsbyaccount_403.json", 403, bemo.CodeInvalidJWT, poll.ErrAuth},
		{"getsessionsbyaccount_404.json", 404, bemo.CodeResourceNotFound, poll.ErrPermanent},
		{"getsessionsbyaccount_500.json", 500, "ErrorCode", nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			err := bemo.DecodeError(tc.status, providertest.Testdata(t, tc.file))
			if err.Code != tc.code || err.Message == "" {
				t.Errorf("decoded %+v, want code %s and a message", err, tc.code)
			}
			for _, s := range []error{poll.ErrAuth, poll.ErrPermanent} {
				if got := errors.Is(err, s); got != (s == tc.is) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range []string{
		"getsessionsbyaccount_200.json", "getsessionsbyaccount_400_invalidfromdate.json",
		"getsessionsbyaccount_401_tokenexpired.json", "getsessionsbyaccount_404.json", "getsessionsbyaccount_500.json",
	} {
		f.Add(providertest.Testdata(f, name))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"status":"Success","data":null}`, `{"status":"Success","data":[1,"x",null]}`,
		`{"status":"Success","data":{}}`, `{"status":"Error","errors":[{"code":7}]}`, ` {"status":"Success"} trailing`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := bemo.DecodeEnvelope(body)
		again, err2 := bemo.DecodeEnvelope(body)
		if (err == nil) != (err2 == nil) || len(env.Data) != len(again.Data) {
			t.Fatal("decoding is not deterministic")
		}
		if err == nil {
			if env.Status != bemo.StatusSuccess && env.Status != bemo.StatusError {
				t.Fatalf("accepted status %q", env.Status)
			}
			for _, item := range env.Data {
				if !json.Valid(item) || !bytes.Contains(body, item) {
					t.Fatalf("data item %q is not valid JSON taken from the body", item)
				}
			}
		}
		for _, status := range []int{400, 401, 429, 500} {
			e := bemo.DecodeError(status, body)
			if e == nil || e.Status != status || len(e.Message) > 400 {
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
		mod  func(*bemo.Config)
		want []string // "" = valid
	}{
		{"valid", func(*bemo.Config) {}, nil},
		{"no accounts", func(c *bemo.Config) { c.Accounts = nil }, []string{"--bemo-accounts/BEMO_ACCOUNTS must list at least one account"}},
		{"duplicate account", func(c *bemo.Config) { c.Accounts = []string{"a", "a"} }, []string{`--bemo-accounts/BEMO_ACCOUNTS lists "a" twice`}},
		{"bad start date", func(c *bemo.Config) { c.StartDate = "20.11.2026" }, []string{`--bemo-start-date/BEMO_START_DATE must be a date like 2026-11-20 (YYYY-MM-DD), got "20.11.2026"`}},
		{"relative base URL", func(c *bemo.Config) { c.BaseURL = "gateway.be-mo.io" }, []string{"--bemo-base-url/BEMO_BASE_URL must be an absolute http(s) URL"}},
		{"every problem at once", func(c *bemo.Config) {
			c.AccessToken, c.SubscriptionKey, c.PageSize, c.SettleDays, c.MaxPageBytes = "", "", -1, -1, 10
		}, []string{
			"--bemo-access-token/BEMO_ACCESS_TOKEN is required", "--bemo-subscription-key/BEMO_SUBSCRIPTION_KEY is required",
			"--bemo-page-size/BEMO_PAGE_SIZE must be ≥ 1, got -1", "--bemo-settle-days/BEMO_SETTLE_DAYS must be ≥ 0, got -1",
			"--bemo-max-page-bytes/BEMO_MAX_PAGE_BYTES must be ≥ 1024, got 10",
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
	p := bemo.Provider{}
	v := providertest.Values(t, p, bemo.SimEnv("http://127.0.0.1:8081"))
	if _, err := p.NewSource(v, nil); err != nil {
		t.Fatalf("NewSource with the simulator's settings: %v", err)
	}
	src, err := p.NewSource(v.With("bemo-start-date", "2026/11/20"), nil)
	if src != nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "--bemo-start-date/BEMO_START_DATE") {
		t.Fatalf("NewSource with a bad start date = %v, %v; want nil and an error naming the setting", src, err)
	}
	if strings.Contains(err.Error(), bemo.SimAccessToken) {
		t.Errorf("the error shows a secret: %v", err)
	}
}

// Bodies without a Content-Length are read whole whatever their size, also when the previous
// page (which sizes the next read's buffer) was smaller or larger.
func TestClientReadsChunkedBodies(t *testing.T) {
	sizes := []int{3, 400, 2, 5000, 0}
	call := 0
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sizes[call]
		call++
		w.Write([]byte(`{"status":"Success","data":[`))
		for i := range n {
			if i > 0 {
				w.Write([]byte(","))
			}
			w.Write([]byte(`{"sessionId":"s-` + strconv.Itoa(i) + `","pad":"` + strings.Repeat("x", 100) + `"}`))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
		w.Write([]byte(`]}`))
	}))
	c := newClient(t, testConfig(srv.URL), srv.Client())
	for _, n := range sizes {
		page, err := c.Sessions(t.Context(), "acc-1", bemo.SessionsQuery{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Sessions) != n {
			t.Fatalf("%d sessions, want %d", len(page.Sessions), n)
		}
		if n > 0 && !bytes.HasPrefix(page.Sessions[n-1], []byte(`{"sessionId":"s-`+strconv.Itoa(n-1)+`"`)) {
			t.Fatalf("last session is %s", page.Sessions[n-1])
		}
	}
}
