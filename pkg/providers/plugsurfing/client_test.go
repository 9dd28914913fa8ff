package plugsurfing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// testNow is "now" in the tests: the simulator's bills are dated 2026-11-06 12:00 … 2026-11-20 12:00.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConfig points at a simulator served at url with its users and tokens, 3-day windows (so
// the 14 days of bills span several), the default settle and re-read, and fast retries.
func testConfig(url string) plugsurfing.Config {
	return plugsurfing.Config{
		BaseURL: url + "/",
		Users:   plugsurfing.SimUsers(),
		Start:   "2026-11-05",
		Window:  3 * 24 * time.Hour,
		Settle:  plugsurfing.DefaultSettle,
		Reread:  plugsurfing.DefaultReread,
		Backoff: poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

func simUser(t testing.TB, scope string) plugsurfing.User {
	t.Helper()
	for _, u := range plugsurfing.SimUsers() {
		if u.Scope() == scope {
			return u
		}
	}
	t.Fatalf("no simulator user %q", scope)
	return plugsurfing.User{}
}

func newClient(t *testing.T, cfg plugsurfing.Config, hc *http.Client) *plugsurfing.Client {
	t.Helper()
	c, err := plugsurfing.NewClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientSendsTheSeedRequest(t *testing.T) {
	var method, contentType string
	var body []byte
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, contentType = r.Method, r.Header.Get("Content-Type")
		body, _ = io.ReadAll(r.Body)
		w.Write(providertest.Testdata(t, "usergetbills_response.json"))
	}))
	cfg := testConfig(srv.URL)
	cfg.UTCOffset = "+01:00"
	u := plugsurfing.User{IdentifierType: "username", Identifier: "some_user", Token: "b369f99e82fa097ba9cff8658c74e47c"}
	start := time.Date(2015, 3, 4, 12, 32, 12, 0, time.UTC)
	end := time.Date(2015, 3, 5, 23, 0, 0, 0, time.UTC)
	if _, err := newClient(t, cfg, srv.Client()).Bills(t.Context(), u, start, end); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodPost || contentType != "application/json" {
		t.Errorf("request %s with Content-Type %q, want POST application/json", method, contentType)
	}
	if got, want := providertest.DecodeJSON(t, body), providertest.DecodeJSON(t, providertest.Testdata(t, "usergetbills_request.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("request body\n%s\nis not the seed's example\n%s", body, providertest.Testdata(t, "usergetbills_request.json"))
	}
}

func TestClientOmitsAnAbsentToken(t *testing.T) {
	var body []byte
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Write(providertest.Testdata(t, "usergetbills_response.json"))
	}))
	u := plugsurfing.User{IdentifierType: "rfid", Identifier: "04AB"}
	if _, err := newClient(t, testConfig(srv.URL), srv.Client()).Bills(t.Context(), u, testNow.Add(-time.Hour), testNow); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(`"token"`)) {
		t.Errorf("a user without token was sent a token field: %s", body)
	}
}

func TestFormatTimeWritesOffsets(t *testing.T) {
	instant := time.Date(2015, 3, 4, 12, 32, 12, 0, time.UTC)
	tests := []struct {
		offset string
		at     time.Time
		want   string
	}{
		{"+01:00", instant, "2015-03-04T13:32:12+01:00"},
		{"+00:00", instant, "2015-03-04T12:32:12+00:00"}, // never "Z"
		{"-05:00", instant, "2015-03-04T07:32:12-05:00"},
		{"+05:45", instant, "2015-03-04T18:17:12+05:45"},
		{"+14:00", instant, "2015-03-05T02:32:12+14:00"}, // the date moves with the offset
		{"+01:00", time.Date(2015, 3, 5, 23, 0, 0, 0, time.UTC), "2015-03-06T00:00:00+01:00"},
		{"+01:00", instant.In(time.FixedZone("x", -3*3600)), "2015-03-04T13:32:12+01:00"}, // the input's zone is irrelevant
		{"+00:00", instant.Add(999 * time.Millisecond), "2015-03-04T12:32:12+00:00"},      // seconds only
	}
	for _, tc := range tests {
		t.Run(tc.offset+" "+tc.want, func(t *testing.T) {
			loc, err := plugsurfing.ParseUTCOffset(tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			got := plugsurfing.FormatTime(tc.at, loc)
			if got != tc.want {
				t.Errorf("FormatTime = %s, want %s", got, tc.want)
			}
			back, err := time.Parse(plugsurfing.DateLayout, got)
			if err != nil || !back.Equal(tc.at.Truncate(time.Second)) {
				t.Errorf("%s reads back as %v (%v), want the same instant %v", got, back, err, tc.at)
			}
		})
	}
	for _, bad := range []string{"", "Z", "UTC", "+1:00", "+0100", "+15:00", "+14:30", "01:00", "+01:60"} {
		if _, err := plugsurfing.ParseUTCOffset(bad); err == nil {
			t.Errorf("ParseUTCOffset(%q) accepted", bad)
		}
	}
}

func TestClientKeepsBillBytes(t *testing.T) {
	resp := providertest.Testdata(t, "usergetbills_response.json")
	// An unknown field must survive byte for byte too.
	resp = bytes.Replace(resp, []byte(`"bill": "https://api.plugsurfing.com/uploads/bills/Invoice-201503051-10000.pdf"`),
		[]byte(`"bill": "https://api.plugsurfing.com/uploads/bills/Invoice-201503051-10000.pdf", "amount": {"value": 7.10}`), 1)
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(resp) }))
	bills, err := newClient(t, testConfig(srv.URL), srv.Client()).Bills(t.Context(), plugsurfing.SimUsers()[0], testNow.Add(-time.Hour), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(bills) != 2 {
		t.Fatalf("got %d bills, want 2", len(bills))
	}
	for i, b := range bills {
		if !bytes.Contains(resp, b) || !bytes.HasPrefix(b, []byte("{\n        \"external-session-ids\"")) {
			t.Errorf("bill %d is not the bytes the API sent:\n%s", i, b)
		}
	}
	if !bytes.Contains(bills[0], []byte(`"amount": {"value": 7.10}`)) {
		t.Errorf("unknown field lost: %s", bills[0])
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(1, providertest.Respond(http.StatusTooManyRequests, "3", ""), s)
		cfg := testConfig("http://plugsurfing.invalid")
		cfg.Backoff = poll.Backoff{} // poll's defaults: Retry-After is not capped below 3s
		providertest.CheckRetried(t, 3*time.Second, func() error {
			_, err := newClient(t, cfg, providertest.HandlerClient(h)).Bills(t.Context(), plugsurfing.SimUsers()[0], testNow.Add(-48*time.Hour), testNow)
			return err
		}, h)
	})
}

func TestClientRetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow), Faults: sim.Faults{ServerErrorEvery: 1}})
		ok := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
		h := providertest.FailFirst(2, failing, ok) // two 500s, then success
		providertest.CheckRetried(t, 0, func() error {
			_, err := newClient(t, testConfig("http://plugsurfing.invalid"), providertest.HandlerClient(h)).Bills(t.Context(), plugsurfing.SimUsers()[1], testNow.Add(-48*time.Hour), testNow)
			return err
		}, h)
	})
}

func TestClientMalformedBodyIsRetriedThenReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"user":{"bills":[{"external-session-ids":["6a2f`)) // cut short
		})}
		cfg := testConfig("http://plugsurfing.invalid")
		cfg.Backoff.MaxAttempts = 3
		u := simUser(t, "rfid:04AB12CD34EF56")
		_, err := newClient(t, cfg, providertest.HandlerClient(c)).Bills(t.Context(), u, time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
		if err == nil {
			t.Fatal("a truncated body was accepted")
		}
		if c.Count() != 3 {
			t.Errorf("%d requests, want 3 attempts", c.Count())
		}
		if errors.Is(err, poll.ErrAuth) || errors.Is(err, poll.ErrPermanent) {
			t.Errorf("a malformed body is neither auth nor permanent: %v", err)
		}
		for _, want := range []string{"user rfid:04AB12CD34EF56", "2026-11-19T00:00:00+00:00..2026-11-20T00:00:00+00:00", "malformed response body"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

// TestResultCodes is the result-code mapping: what each outcome of the call matches. The seed
// shows no error body; testdata/usergetbills_result_*.json are built from its result-code table
// (code and meaning) in the shape of its success response.
func TestResultCodes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		auth   bool
		perm   bool
		code   error  // sentinel it matches, if any
		says   string // in the error text
	}{
		{"140 no positive authentication", 200, string(providertest.Testdata(t, "usergetbills_result_140.json")), true, false, plugsurfing.ErrNoPositiveAuth,
			"result 140 (Authentication failed: No positive authentication response); check the user's identifier in --plugsurfing-users/PLUGSURFING_USERS and its token in --plugsurfing-tokens/PLUGSURFING_TOKENS"},
		{"144 email does not exist", 200, string(providertest.Testdata(t, "usergetbills_result_144.json")), true, false, plugsurfing.ErrEmailNotFound,
			"result 144 (Authentication failed: Email does not exist); check the user's identifier"},
		{"145 user token not valid", 200, string(providertest.Testdata(t, "usergetbills_result_145.json")), true, false, plugsurfing.ErrUserTokenInvalid,
			"result 145 (Authentication failed: User token not valid); renew the user's token in --plugsurfing-tokens/PLUGSURFING_TOKENS"},
		{"145 with the server's own message", 200, `{"result":{"code":145,"message":"Token expired on 2026-11-01"}}`, true, false, plugsurfing.ErrUserTokenInvalid,
			"result 145 (Authentication failed: User token not valid): Token expired on 2026-11-01"},
		{"undocumented result code", 200, `{"result":{"code":17,"message":"Invalid date interval"}}`, false, true, nil, "result 17: Invalid date interval"},
		{"HTTP 401", 401, `{"result":{"message":"Unauthorized"}}`, true, false, nil, "HTTP 401: Unauthorized"},
		{"HTTP 403 without body", 403, ``, true, false, nil, "HTTP 403: Forbidden"},
		{"HTTP 400", 400, `{"result":{"message":"Bad request"}}`, false, true, nil, "HTTP 400: Bad request"},
		{"HTTP 404 HTML", 404, `<html>not found</html>`, false, true, nil, "HTTP 404: Not Found: <html>not found</html>"},
		{"HTTP 429 is retried, not auth", 429, `{"result":{"code":145}}`, false, false, plugsurfing.ErrUserTokenInvalid, "HTTP 429, result 145"},
		{"HTTP 503", 503, `{"result":{"message":"down"}}`, false, false, nil, "HTTP 503: down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.status == http.StatusOK {
				code, message, _, derr := plugsurfing.DecodeResponse([]byte(tc.body))
				if derr != nil {
					t.Fatal(derr)
				}
				err = &plugsurfing.APIError{Status: 200, Code: code, Message: message}
			} else {
				err = plugsurfing.DecodeError(tc.status, []byte(tc.body))
			}
			if got := errors.Is(err, poll.ErrAuth); got != tc.auth {
				t.Errorf("errors.Is(%v, poll.ErrAuth) = %v, want %v", err, got, tc.auth)
			}
			if got := errors.Is(err, poll.ErrPermanent); got != tc.perm {
				t.Errorf("errors.Is(%v, poll.ErrPermanent) = %v, want %v", err, got, tc.perm)
			}
			for _, s := range []error{plugsurfing.ErrNoPositiveAuth, plugsurfing.ErrEmailNotFound, plugsurfing.ErrUserTokenInvalid} {
				if got := errors.Is(err, s); got != (s == tc.code) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestClientRefusals(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		user   func(*plugsurfing.User)
		scope  string
		is     []error
		says   []string
	}{
		{
			name: "expired token", faults: sim.Faults{ExpiredToken: true}, scope: "rfid:04AB12CD34EF56",
			is:   []error{poll.ErrAuth, plugsurfing.ErrUserTokenInvalid},
			says: []string{"user rfid:04AB12CD34EF56", "result 145", "User token not valid"},
		},
		{
			name: "wrong token", user: func(u *plugsurfing.User) { u.Token = "not-the-token" }, scope: "username:some_user",
			is:   []error{poll.ErrAuth, plugsurfing.ErrUserTokenInvalid},
			says: []string{"user username:some_user", "result 145", "PLUGSURFING_TOKENS"},
		},
		{
			name: "no token", user: func(u *plugsurfing.User) { u.Token = "" }, scope: "evco-id:DE-PLS-C12345678-4",
			is:   []error{poll.ErrAuth, plugsurfing.ErrNoPositiveAuth},
			says: []string{"user evco-id:DE-PLS-C12345678-4", "result 140"},
		},
		{
			name: "token demanded but absent", faults: sim.Faults{MissingToken: true}, scope: "username:some_user",
			is:   []error{poll.ErrAuth, plugsurfing.ErrNoPositiveAuth},
			says: []string{"result 140"},
		},
		{
			name: "unknown username", user: func(u *plugsurfing.User) { u.Identifier = "nobody@example.com" }, scope: "username:some_user",
			is:   []error{poll.ErrAuth, plugsurfing.ErrEmailNotFound},
			says: []string{"user username:nobody@example.com", "result 144", "Email does not exist"},
		},
		{
			name: "token-type user refused", user: func(u *plugsurfing.User) { u.Token = "bad" }, scope: plugsurfing.SimUsers()[3].Scope(),
			is:   []error{poll.ErrAuth},
			says: []string{"user token:sha256-", "result 145"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &providertest.Counter{H: plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow), Faults: tc.faults})}
				u := simUser(t, tc.scope)
				if tc.user != nil {
					tc.user(&u)
				}
				_, err := newClient(t, testConfig("http://plugsurfing.invalid"), providertest.HandlerClient(c)).Bills(t.Context(), u, testNow.Add(-24*time.Hour), testNow)
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
				for _, secret := range []string{u.Token.Reveal(), plugsurfing.SimUsers()[3].Identifier} {
					if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a secret: %v", err)
					}
				}
				if c.Count() != 1 {
					t.Errorf("%d requests: a refusal must not be retried", c.Count())
				}
			})
		})
	}
}

func TestClientNeverEchoesSecrets(t *testing.T) {
	u := plugsurfing.SimUsers()[3] // token type: the identifier is a secret too
	for _, status := range []int{200, 400} {
		srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(`{"result":{"code":145,"message":"token ` + u.Token.Reveal() + ` of ` + u.Identifier + ` is not valid"}}`))
		}))
		_, err := newClient(t, testConfig(srv.URL), srv.Client()).Bills(t.Context(), u, testNow.Add(-time.Hour), testNow)
		if err == nil || strings.Contains(err.Error(), u.Token.Reveal()) || strings.Contains(err.Error(), u.Identifier) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("HTTP %d: error %v must redact the echoed token and identifier", status, err)
		}
	}
}

func TestClientMaxResponseBytes(t *testing.T) {
	c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(" "), 2000))
	})}
	srv := providertest.Serve(t, c)
	cfg := testConfig(srv.URL)
	cfg.MaxResponseBytes = 1024
	_, err := newClient(t, cfg, srv.Client()).Bills(t.Context(), plugsurfing.SimUsers()[0], testNow.Add(-time.Hour), testNow)
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "PLUGSURFING_MAX_RESPONSE_BYTES") || !strings.Contains(err.Error(), "PLUGSURFING_WINDOW") {
		t.Fatalf("oversized body: %v; want a permanent error naming PLUGSURFING_MAX_RESPONSE_BYTES and PLUGSURFING_WINDOW", err)
	}
	if c.Count() != 1 {
		t.Errorf("%d requests: an oversized body is not retried", c.Count())
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		code  int
		bills int
		perm  bool // the error wraps poll.ErrPermanent (a shape no retry changes)
		err   string
	}{
		{name: "the seed's response", body: string(providertest.Testdata(t, "usergetbills_response.json")), bills: 2},
		{name: "an auth failure without user", body: string(providertest.Testdata(t, "usergetbills_result_145.json")), code: 145},
		{name: "no bills", body: `{"user":{"bills":[]},"result":{"code":0}}`},
		{name: "null bills", body: `{"user":{"bills":null},"result":{"code":0}}`},
		{name: "null user", body: `{"user":null,"result":{"code":0}}`},
		{name: "only the result", body: `{"result":{"code":0,"message":"Success."}}`},
		{name: "bills at the top level (the seed's field list)", body: `{"bills":[{"bill":"https://x/1.pdf"}],"result":{"code":0}}`, bills: 1},
		{name: "the same bills in both places", body: `{"user":{"bills":[{"bill":"https://x/1.pdf"}]},"bills":[{"bill":"https://x/1.pdf"}],"result":{"code":0}}`, bills: 1},
		{name: "code as a string", body: `{"user":{"bills":[{"bill":"https://x/1.pdf"}]},"result":{"code":"0"}}`, bills: 1},
		{name: "145 as a string", body: `{"result":{"code":"145"}}`, code: 145},
		{name: "other bills in each place", body: `{"user":{"bills":[{"bill":"https://x/1.pdf"}]},"bills":[{"bill":"https://x/2.pdf"}],"result":{"code":0}}`, perm: true,
			err: "bills both under user.bills (1) and at the top level (1), and they differ"},
		{name: "the list under another key", body: `{"user":{"invoices":[{"bill":"https://x/1.pdf"}]},"result":{"code":0}}`, perm: true,
			err: `without a bills list (neither user.bills nor bills), but user.invoices holds an array of 1`},
		{name: "an empty array elsewhere is no list", body: `{"user":{"warnings":[]},"result":{"code":0}}`},
		{name: "no result", body: `{"user":{"bills":[]}}`, perm: true, err: `no result object with a code; the body holds keys "user"`},
		{name: "result without code", body: `{"result":{"message":"Success."}}`, perm: true, err: `result has no code; it holds keys "message"`},
		{name: "code a fraction", body: `{"result":{"code":1.5}}`, perm: true, err: "result.code 1.5 is not an integer"},
		{name: "code a word", body: `{"result":{"code":"ok"}}`, perm: true, err: `result.code "ok" is not an integer`},
		{name: "bills not an array", body: `{"user":{"bills":{}},"result":{"code":0}}`, perm: true, err: "user.bills is an object with no keys, not an array"},
		{name: "user not an object", body: `{"user":"me","result":{"code":0}}`, perm: true, err: "user is a string"},
		{name: "an array", body: `[]`, perm: true, err: "the body is an array of 0, not a JSON object"},
		{name: "empty", body: ``, err: "not valid JSON"},
		{name: "truncated", body: `{"user":{"bills":[`, err: "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, bills, err := plugsurfing.DecodeResponse([]byte(tc.body))
			if (err == nil) != (tc.err == "") {
				t.Fatalf("DecodeResponse = %v, want error %q", err, tc.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.err) || errors.Is(err, poll.ErrPermanent) != tc.perm {
					t.Errorf("error %q, want %q (permanent %v)", err, tc.err, tc.perm)
				}
				return
			}
			if code != tc.code || len(bills) != tc.bills {
				t.Errorf("code %d, %d bills; want %d, %d", code, len(bills), tc.code, tc.bills)
			}
		})
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"usergetbills_response.json", "usergetbills_result_140.json", "usergetbills_result_144.json", "usergetbills_result_145.json"} {
		f.Add(providertest.Testdata(f, name))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"result":{"code":0}}`, `{"result":{"code":0},"user":{"bills":[1,"x",null]}}`,
		`{"result":{"code":1e3}}`, `{"result":{"code":-1,"message":"\u0000"}}`, ` {"result":{"code":0}} trailing`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, _, bills, err := plugsurfing.DecodeResponse(body)
		again, _, _, err2 := plugsurfing.DecodeResponse(body)
		if (err == nil) != (err2 == nil) || code != again {
			t.Fatal("decoding is not deterministic")
		}
		if err == nil {
			if !bytes.Contains(body, []byte(`"code"`)) {
				t.Fatalf("accepted a body without result.code")
			}
			for _, b := range bills {
				if !json.Valid(b) || !bytes.Contains(body, b) {
					t.Fatalf("bill %q is not valid JSON taken from the body", b)
				}
			}
		}
		for _, status := range []int{400, 401, 429, 500} {
			e := plugsurfing.DecodeError(status, body, "secret-token")
			if e == nil || e.Status != status || len(e.Message) > 400 || strings.Contains(e.Message, "secret-token") {
				t.Fatalf("DecodeError(%d) = %+v", status, e)
			}
			_ = e.Error()
		}
	})
}
