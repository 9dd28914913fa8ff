package mews_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// testNow is "now" in the tests: the simulator's entities were updated between
// 2026-10-31T11:00Z and 2026-11-20T11:00Z.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConfig points at a simulator served at url with its credentials and scope, and fast
// retries and status polls.
func testConfig(url string) mews.Config {
	return mews.Config{
		BaseURL:       url,
		ClientToken:   mews.SimClientToken,
		AccessToken:   mews.SimAccessToken,
		EnterpriseIDs: mews.SimEnterprises(),
		ChainIDs:      mews.SimChains(),
		Backoff:       poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		ExportWait:    poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 20},
		// Test servers are plain http: their host (any port) may serve files.
		HTTPFileHosts: []string{hostname(url)},
	}
}

func hostname(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// recorder answers every request with one canned body and keeps the requests' bodies.
type recorder struct {
	mu     sync.Mutex
	status int
	header http.Header
	body   string
	paths  []string
	bodies [][]byte
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.paths = append(rec.paths, r.Method+" "+r.URL.Path)
	rec.bodies = append(rec.bodies, b)
	rec.mu.Unlock()
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if rec.status != 0 {
		w.WriteHeader(rec.status)
	}
	io.WriteString(w, rec.body)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.paths)
}

func newClient(t *testing.T, cfg mews.Config, hc *http.Client) *mews.Client {
	t.Helper()
	c, err := mews.NewClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientRequestBodiesAreTheSeedShape(t *testing.T) {
	rec := &recorder{body: string(providertest.Testdata(t, "addexport_response.json"))}
	srv := providertest.Serve(t, rec)
	cfg := testConfig(srv.URL + "/platform/")
	cfg.EnterpriseIDs, cfg.ChainIDs = []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6"}, nil
	cfg.Client = "Sample Client 1.0.0"
	c := newClient(t, cfg, srv.Client())
	from, to := time.Date(2020, 11, 4, 0, 0, 0, 0, time.UTC), time.Date(2020, 11, 5, 0, 0, 0, 0, time.UTC)
	exp, err := c.AddExport(t.Context(), "Reservation", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if exp.ID != "09708665-0e31-4b23-b337-b0a000be0df0" || exp.Status != mews.StatusPending {
		t.Errorf("decoded %+v", exp)
	}
	rec.body = string(providertest.Testdata(t, "getallexports_response.json"))
	ids := []string{"3fa85f64-5717-4562-b3fd-2c963f66afa6", "09708665-0e31-4b23-b337-b0a000be0df0", "706dc6d5-9511-4751-825e-538ce99da2ce", "f776f20a-6f1a-4ddf-93f4-9dae95261415"}
	if _, err := c.Exports(t.Context(), ids...); err != nil {
		t.Fatal(err)
	}
	if rec.paths[0] != "POST /platform/api/connector/v1/exports/add" || rec.paths[1] != "POST /platform/api/connector/v1/exports/getAll" {
		t.Errorf("paths %v", rec.paths)
	}
	for i, name := range []string{"addexport_request.json", "getallexports_request.json"} {
		seed := providertest.DecodeJSON(t, providertest.Testdata(t, name))
		got := providertest.DecodeJSON(t, rec.bodies[i])
		if !reflect.DeepEqual(providertest.Shape(got), providertest.Shape(seed)) {
			t.Errorf("request body %s\nhas not the shape of the seed's %s", rec.bodies[i], name)
		}
		// Apart from the credentials, the bodies are the seed's own examples.
		for _, k := range []string{"ClientToken", "AccessToken"} {
			delete(got.(map[string]any), k)
			delete(seed.(map[string]any), k)
		}
		if !reflect.DeepEqual(got, seed) {
			t.Errorf("request body %s differs from the seed's %s", rec.bodies[i], name)
		}
	}
	var creds mews.Credentials
	if err := json.Unmarshal(rec.bodies[1], &creds); err != nil || creds.ClientToken != mews.SimClientToken || creds.AccessToken != mews.SimAccessToken {
		t.Errorf("credentials sent %+v (%v)", creds, err)
	}
}

func TestClientDecodesTheSeedsGetAll(t *testing.T) {
	exps, err := mews.DecodeGetExports(providertest.Testdata(t, "getallexports_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range exps {
		got = append(got, e.EntityType+" "+e.Status+" "+strconv.Itoa(len(e.Files)))
	}
	if want := "OrderItem Success 2,Reservation Pending 0,Company Processing 0,OrderItem Expired 0"; strings.Join(got, ",") != want {
		t.Errorf("exports %v, want %s", got, want)
	}
	e := exps[0]
	if e.Files[1].SizeInBytes != 1398362 || !strings.HasSuffix(e.Files[0].URL, "-1.jsonl?example=signature") ||
		*e.ExpiresUtc != "2023-10-26T11:42:28Z" || e.Filters.UpdatedUtc.EndUtc != "2020-11-05T00:00:00Z" ||
		e.Scope.ChainIDs != nil || len(e.Scope.EnterpriseIDs) != 2 || exps[2].Scope.ChainIDs[0] != "3fa85f64-5717-4562-b3fc-2c963f66afa6" {
		t.Errorf("first export %+v", e)
	}
}

func TestClientRefusals(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		is     []error
		not    []error
		says   []string
	}{
		{
			name: "access token refused", status: 401, body: `{"Message":"Invalid AccessToken.","RequestId":"a1b2","Details":null}`,
			is: []error{poll.ErrAuth}, not: []error{poll.ErrPermanent},
			says: []string{"exports/add Bill", "HTTP 401: Invalid AccessToken.", "request a1b2", "MEWS_ACCESS_TOKEN"},
		},
		{
			name: "business rule (403)", status: 403, body: `{"Message":"Not allowed.","RequestId":"c3"}`,
			is: []error{poll.ErrPermanent}, not: []error{poll.ErrAuth}, says: []string{"HTTP 403: Not allowed."},
		},
		{
			name: "bad request with a body that is not Mews's", status: 400, body: `<html>nope</html>`,
			is: []error{poll.ErrPermanent}, says: []string{"HTTP 400: Bad Request: <html>nope</html>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{status: tc.status, body: tc.body}
			srv := providertest.Serve(t, rec)
			_, err := newClient(t, testConfig(srv.URL), srv.Client()).AddExport(t.Context(), mews.EntityBill, testStart, testNow.Add(-time.Hour))
			var apiErr *mews.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status {
				t.Fatalf("AddExport = %v, want an *APIError with status %d", err, tc.status)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			for _, target := range tc.not {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true", err, target)
				}
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), mews.SimAccessToken) || strings.Contains(err.Error(), mews.SimClientToken) {
				t.Errorf("the error shows a token: %v", err)
			}
			if rec.count() != 1 {
				t.Errorf("%d requests: a refusal must not be retried", rec.count())
			}
		})
	}
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		minWait    time.Duration
		attempts   int
	}{
		{"429 with Retry-After", 429, "3", 3 * time.Second, 2},
		{"503 with Retry-After", 503, "2", 2 * time.Second, 2},
		{"500", 500, "", 0, 3},
		{"408", 408, "", 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := mews.NewSimulator(sim.Options{Seed: 1, Records: 5, Now: providertest.Fixed(testNow)})
				h := providertest.FailFirst(tc.attempts-1, providertest.Respond(tc.status, tc.retryAfter, `{"Message":"Try later."}`), s)
				cfg := testConfig("http://mews.invalid")
				cfg.Backoff = poll.Backoff{} // poll's defaults: Retry-After is not capped
				providertest.CheckRetried(t, tc.minWait, func() error {
					_, err := newClient(t, cfg, providertest.HandlerClient(h)).Exports(t.Context())
					return err
				}, h)
			})
		})
	}
}

func TestClientMalformedBodyIsRetriedThenReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{body: `{"Exports":[{"Id":"x","Status":"Succ`}
		cfg := testConfig("http://mews.invalid")
		cfg.Backoff.MaxAttempts = 3
		_, err := newClient(t, cfg, providertest.HandlerClient(rec)).Exports(t.Context(), "x")
		if err == nil || !strings.Contains(err.Error(), "exports/getAll export x") || !strings.Contains(err.Error(), "malformed response body") {
			t.Fatalf("Exports = %v", err)
		}
		if rec.count() != 3 {
			t.Errorf("%d requests, want 3 attempts", rec.count())
		}
	})
}

// TestClientFileURLsMustBeHTTPS: export file URLs come from Mews's answer; only https ones are
// downloaded, plain http only from a host MEWS_HTTP_FILE_HOSTS lists (the simulator's), and a
// refusal is permanent, before any request leaves.
func TestClientFileURLsMustBeHTTPS(t *testing.T) {
	var requests atomic.Int32
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.WriteString(w, "{}\n")
	})
	plain := providertest.Serve(t, files)
	tlsSrv := httptest.NewTLSServer(files)
	t.Cleanup(tlsSrv.Close)
	tests := []struct {
		name    string
		hosts   []string
		url     string
		hc      *http.Client
		allowed bool
	}{
		{"https", nil, tlsSrv.URL + "/f-1.jsonl?sig=x", tlsSrv.Client(), true},
		{"http from a listed host", []string{"127.0.0.1"}, plain.URL + "/f-1.jsonl?sig=x", plain.Client(), true},
		{"http from a listed host:port", []string{strings.TrimPrefix(plain.URL, "http://")}, plain.URL + "/f-1.jsonl", plain.Client(), true},
		{"http from a host not listed", []string{"files.example"}, plain.URL + "/f-1.jsonl?sig=x", plain.Client(), false},
		{"http with no host listed", nil, plain.URL + "/f-1.jsonl?sig=x", plain.Client(), false},
		{"file scheme", []string{"127.0.0.1"}, "file:///etc/passwd", plain.Client(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(plain.URL)
			cfg.HTTPFileHosts = tc.hosts
			before := requests.Load()
			body, err := newClient(t, cfg, tc.hc).OpenFile(t.Context(), tc.url, 0)
			if tc.allowed {
				if err != nil {
					t.Fatalf("OpenFile = %v, want the download", err)
				}
				body.Close()
				return
			}
			if err == nil {
				body.Close()
				t.Fatal("OpenFile downloaded a URL that is not https from a host not allowed")
			}
			if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "MEWS_HTTP_FILE_HOSTS") || strings.Contains(err.Error(), "sig=x") {
				t.Errorf("OpenFile = %v; want a permanent refusal naming the setting, without the signature", err)
			}
			if requests.Load() != before {
				t.Error("the refused URL was requested")
			}
		})
	}
}

func TestClientFileErrorsHideTheSignature(t *testing.T) {
	tests := []struct {
		status  int
		refused bool // a fresh URL is the remedy
	}{{403, true}, {404, true}, {410, true}, {401, true}, {409, false}}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "AuthenticationFailed", tc.status)
			}))
			c := newClient(t, testConfig(srv.URL), srv.Client())
			_, err := c.OpenFile(t.Context(), srv.URL+"/exports/e-1.jsonl?sig=t0ps3cret&issued=1", 0)
			var fe *mews.FileError
			if !errors.As(err, &fe) || fe.Status != tc.status {
				t.Fatalf("OpenFile = %v, want a *FileError %d", err, tc.status)
			}
			if strings.Contains(err.Error(), "t0ps3cret") || !strings.Contains(err.Error(), "/exports/e-1.jsonl: HTTP") {
				t.Errorf("error %q: want the URL without its query", err)
			}
			if got := errors.Is(err, poll.ErrPermanent); got == tc.refused {
				t.Errorf("errors.Is(ErrPermanent) = %v", got)
			}
		})
	}
	// A transport failure names the URL without its query too.
	c := newClient(t, testConfig("http://127.0.0.1:1"), nil)
	_, err := c.OpenFile(t.Context(), "http://127.0.0.1:1/exports/e-1.jsonl?sig=t0ps3cret", 0)
	if err == nil || strings.Contains(err.Error(), "t0ps3cret") {
		t.Errorf("OpenFile on a closed port = %v", err)
	}
}

func TestClientFileStallIsTemporary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"Id":"a"}`+"\n")
			w.(http.Flusher).Flush()
			select { // the server goes silent
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := newClient(t, testConfig("http://mews.invalid"), &http.Client{Timeout: 30 * time.Second, Transport: pipeTransport{h}})
		body, err := c.OpenFile(t.Context(), "http://mews.invalid/f", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		begin := time.Now()
		b, err := io.ReadAll(body)
		close(release)
		var te *poll.TemporaryError
		if string(b) != `{"Id":"a"}`+"\n" || !errors.As(err, &te) || !strings.Contains(err.Error(), "no data for 30s") {
			t.Fatalf("read %q, %v; want the first line, then a temporary stall error", b, err)
		}
		if waited := time.Since(begin); waited != 30*time.Second {
			t.Errorf("gave up after %s of silence, want the client's 30s timeout", waited)
		}
	})
}

// pipeTransport serves h through an io.Pipe, so the body streams as h writes it: no network, and
// usable inside a synctest bubble.
type pipeTransport struct{ h http.Handler }

func (p pipeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		p.h.ServeHTTP(w, r)
		w.WriteHeader(http.StatusOK)
		pw.Close()
	}()
	select {
	case <-w.ready:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: w.status, Header: w.header, Body: &ctxBody{pr, r}, Request: r}, nil
}

type ctxBody struct {
	pr *io.PipeReader
	r  *http.Request
}

func (b *ctxBody) Read(p []byte) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() { n, err := b.pr.Read(p); done <- result{n, err} }()
	select {
	case res := <-done:
		return res.n, res.err
	case <-b.r.Context().Done():
		b.pr.CloseWithError(b.r.Context().Err())
		<-done
		return 0, b.r.Context().Err()
	}
}

func (b *ctxBody) Close() error { return b.pr.Close() }

type pipeWriter struct {
	header http.Header
	status int
	pw     *io.PipeWriter
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }
func (w *pipeWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
		close(w.ready)
	}
}
func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}
func (w *pipeWriter) Flush() {}

func TestDecodeErrorBodies(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"Message":"Invalid AccessToken.","RequestId":"r1","Details":null}`, "HTTP 401: Invalid AccessToken. (request r1)"},
		{`{"Message":"line\nbreak"}`, "HTTP 401: line break"},
		{``, "HTTP 401: Unauthorized"},
		{strings.Repeat("x", 1000), "HTTP 401: Unauthorized: " + strings.Repeat("x", 300) + "…"},
	}
	for _, tc := range tests {
		if got := mews.DecodeError(401, []byte(tc.body)).Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("DecodeError(%.30q) = %q, want prefix %q", tc.body, got, tc.want)
		}
	}
}

func FuzzDecodeExports(f *testing.F) {
	for _, name := range []string{"getallexports_response.json", "addexport_response.json"} {
		f.Add(providertest.Testdata(f, name))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"Exports":null}`, `{"Exports":[{}]}`, `{"Export":{"Id":"x"}}`,
		`{"Export":{"Id":"x","Status":"Pending","Files":[{"Url":"","SizeInBytes":-1}]}}`, `{"Exports":[1,"x",null]}`,
		` {"Exports":[]} trailing`, `{"Message":"Invalid AccessToken."}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		exps, err := mews.DecodeGetExports(body)
		again, err2 := mews.DecodeGetExports(body)
		if (err == nil) != (err2 == nil) || len(exps) != len(again) {
			t.Fatal("decoding is not deterministic")
		}
		for _, e := range exps {
			if e.ID == "" || e.Status == "" {
				t.Fatalf("accepted an export without id or status: %+v", e)
			}
			for _, f := range e.Files {
				if f.URL == "" || f.SizeInBytes < 0 {
					t.Fatalf("accepted a bad file entry: %+v", f)
				}
			}
		}
		if e, err := mews.DecodeAddExport(body); err == nil && (e.ID == "" || e.Status == "") {
			t.Fatalf("add: accepted an export without id or status: %+v", e)
		}
		for _, status := range []int{400, 401, 403, 429, 500} {
			e := mews.DecodeError(status, body)
			if e == nil || e.Status != status || len(e.Message) > 400 {
				t.Fatalf("DecodeError(%d) = %+v", status, e)
			}
			_ = e.Error()
		}
	})
}

func TestConfigValidate(t *testing.T) {
	valid := testConfig("http://127.0.0.1:8081/mews")
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("3fa85f64-5717-4562-b3fc-%012d", i)
	}
	tests := []struct {
		name string
		mod  func(*mews.Config)
		want []string // nil = valid
	}{
		{"valid", func(*mews.Config) {}, nil},
		{"entity types in any case", func(c *mews.Config) { c.EntityTypes = []string{"bill", "ORDERITEM"} }, nil},
		{"a thousand enterprises", func(c *mews.Config) { c.EnterpriseIDs = many[:1000] }, nil},
		{"date start", func(c *mews.Config) { c.Start = "2026-01-01" }, nil},
		{"unknown entity type", func(c *mews.Config) { c.EntityTypes = []string{"Bill", "Invoice"} },
			[]string{`--mews-entity-types/MEWS_ENTITY_TYPES lists "Invoice", which is not an export entity type (OrderItem, Payment`}},
		{"entity type twice", func(c *mews.Config) { c.EntityTypes = []string{"Bill", "bill"} },
			[]string{"--mews-entity-types/MEWS_ENTITY_TYPES lists Bill twice"}},
		{"1001 enterprises", func(c *mews.Config) { c.EnterpriseIDs = many },
			[]string{"--mews-enterprise-ids/MEWS_ENTERPRISE_IDS lists 1001 ids; Mews accepts at most 1000"}},
		{"chain id not a GUID", func(c *mews.Config) { c.ChainIDs = []string{"chain-1"} },
			[]string{`--mews-chain-ids/MEWS_CHAIN_IDS lists "chain-1", which is not a Mews id`}},
		{"enterprise twice", func(c *mews.Config) { c.EnterpriseIDs = []string{many[0], strings.ToUpper(many[0])} },
			[]string{"--mews-enterprise-ids/MEWS_ENTERPRISE_IDS lists 3FA85F64-5717-4562-B3FC-000000000000 twice"}},
		{"bad start", func(c *mews.Config) { c.Start = "20.11.2026" },
			[]string{`--mews-start/MEWS_START must be an RFC 3339 time like 2026-11-20T00:00:00Z or a date like 2026-11-20, got "20.11.2026"`}},
		{"lag below the seed's 5 minutes", func(c *mews.Config) { c.EndLag = 4 * time.Minute },
			[]string{"--mews-end-lag/MEWS_END_LAG must be ≥ 5m0s"}},
		{"window over 180 days", func(c *mews.Config) { c.MaxWindow = 181 * 24 * time.Hour },
			[]string{"--mews-max-window/MEWS_MAX_WINDOW must be between 1h and 4320h0m0s (180 days), got 4344h0m0s"}},
		{"http file host with a scheme", func(c *mews.Config) { c.HTTPFileHosts = []string{"http://files.example"} },
			[]string{`--mews-http-file-hosts/MEWS_HTTP_FILE_HOSTS lists "http://files.example", which is not a host or host:port`}},
		{"relative base URL", func(c *mews.Config) { c.BaseURL = "api.mews.com" },
			[]string{"--mews-base-url/MEWS_BASE_URL must be an absolute http(s) URL"}},
		{"every problem at once", func(c *mews.Config) {
			c.ClientToken, c.AccessToken, c.Client, c.MaxLineBytes, c.MinWindow = "", "", " ", 10, -time.Second
		}, []string{
			"--mews-client-token/MEWS_CLIENT_TOKEN is required", "--mews-access-token/MEWS_ACCESS_TOKEN is required",
			"--mews-client/MEWS_CLIENT must not be blank", "--mews-max-line-bytes/MEWS_MAX_LINE_BYTES must be ≥ 1024, got 10",
			"--mews-min-window/MEWS_MIN_WINDOW must be ≥ 0, got -1s",
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
	p := mews.Provider{}
	v := providertest.Values(t, p, mews.SimEnv("http://127.0.0.1:8081/mews"))
	src, err := p.NewSource(v, nil)
	if err != nil {
		t.Fatalf("NewSource with the simulator's settings: %v", err)
	}
	scopes, _ := src.Scopes(t.Context())
	if strings.Join(scopes, ",") != strings.Join(mews.EntityTypes(), ",") || len(scopes) != 10 {
		t.Errorf("default scopes %v, want all ten entity types", scopes)
	}
	src, err = p.NewSource(v.With("mews-entity-types", "bill,ledgerentry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if scopes, _ = src.Scopes(t.Context()); strings.Join(scopes, ",") != "Bill,LedgerEntry" {
		t.Errorf("scopes %v, want the seed's spelling", scopes)
	}
	src, err = p.NewSource(v.With("mews-start", "yesterday"), nil)
	if src != nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "--mews-start/MEWS_START") {
		t.Fatalf("NewSource with a bad start = %v, %v; want nil and an error naming the setting", src, err)
	}
	if strings.Contains(err.Error(), mews.SimAccessToken) || strings.Contains(err.Error(), mews.SimClientToken) {
		t.Errorf("the error shows a secret: %v", err)
	}
	for _, s := range mews.Settings() {
		if strings.HasSuffix(s.Env, "_TOKEN") && !s.Secret {
			t.Errorf("%s is not a secret", s.Env)
		}
	}
}
