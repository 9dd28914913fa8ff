package plugsurfing_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func TestParseUsers(t *testing.T) {
	users, err := plugsurfing.ParseUsers(
		[]string{"username:some_user", "rfid:04AB12", "evco-id:DE-PLS-C1", "username:some_user2", "token:abc=="},
		config.Secret("username:some_user=b369f9\n rfid:04AB12=t=with=equals ,\r\nusername:some_user2=second\ntoken:abc===tok\n\n"),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ typ, id, token string }{
		{"username", "some_user", "b369f9"},
		{"rfid", "04AB12", "t=with=equals"},
		{"evco-id", "DE-PLS-C1", ""}, // no entry: sent without token
		{"username", "some_user2", "second"},
		{"token", "abc==", "tok"},
	}
	if len(users) != len(want) {
		t.Fatalf("%d users, want %d", len(users), len(want))
	}
	for i, w := range want {
		u := users[i]
		if u.IdentifierType != w.typ || u.Identifier != w.id || u.Token.Reveal() != w.token {
			t.Errorf("user %d = %s:%s token %q, want %s:%s token %q", i, u.IdentifierType, u.Identifier, u.Token.Reveal(), w.typ, w.id, w.token)
		}
	}
	if s := users[4].Scope(); !strings.HasPrefix(s, "token:sha256-") || strings.Contains(s, "abc") || len(s) != len("token:sha256-")+16 {
		t.Errorf("token-type scope %q must hide the identifier", s)
	}
	if users[0].Scope() != "username:some_user" || users[0].String() != "username:some_user" {
		t.Errorf("scope %q", users[0].Scope())
	}
}

func TestParseUsersRefusesBadTokens(t *testing.T) {
	tests := []struct {
		name   string
		tokens string
		says   string
	}{
		{"entry for an unknown user", "username:someone=s3cr3t-token", "--plugsurfing-tokens/PLUGSURFING_TOKENS entry 1 is not <identifier-type>:<identifier>=<token> for a user in --plugsurfing-users/PLUGSURFING_USERS"},
		{"entry without =", "username:some_user,s3cr3t-token", "entry 2 is not"},
		{"empty token", "username:some_user=", "entry 1 gives user username:some_user an empty token"},
		{"second token", "username:some_user=a,username:some_user=s3cr3t-token", "entry 2 gives user username:some_user a second token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugsurfing.ParseUsers([]string{"username:some_user"}, config.Secret(tc.tokens))
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("ParseUsers = %v, want config.ErrInvalid saying %q", err, tc.says)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows a token: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := testConfig("http://127.0.0.1:8081")
	users := func(entries ...string) []plugsurfing.User {
		us, err := plugsurfing.ParseUsers(entries, "")
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	tests := []struct {
		name string
		mod  func(*plugsurfing.Config)
		want []string // nil = valid
		hide string   // must not appear
	}{
		{"valid", func(*plugsurfing.Config) {}, nil, ""},
		{"zero settle and re-read are valid", func(c *plugsurfing.Config) { c.Settle, c.Reread = 0, 0 }, nil, ""},
		{"start as a duration", func(c *plugsurfing.Config) { c.Start = "48h" }, nil, ""},
		{"start as a time with offset", func(c *plugsurfing.Config) { c.Start = "2026-01-01T00:00:00+01:00" }, nil, ""},
		{"bad identifier type", func(c *plugsurfing.Config) { c.Users = users("email:jane@example.com") },
			[]string{`--plugsurfing-users/PLUGSURFING_USERS entry 1 has identifier type "email"; want <identifier-type>:<identifier> with one of evco-id, rfid, username, token`}, "jane"},
		{"mistyped token type hides the identifier", func(c *plugsurfing.Config) { c.Users = users("username:a", "tokn:s3cr3t") },
			[]string{`--plugsurfing-users/PLUGSURFING_USERS entry 2 has identifier type "tokn"`}, "s3cr3t"},
		{"identifier type in upper case", func(c *plugsurfing.Config) { c.Users = users("RFID:04AB") }, []string{`entry 1 has identifier type "RFID"`}, ""},
		{"no colon", func(c *plugsurfing.Config) { c.Users = users("some_user") }, []string{`entry 1 has identifier type "some_user"`}, ""},
		{"empty identifier", func(c *plugsurfing.Config) { c.Users = users("rfid:") }, []string{"entry 1 (rfid:) has an empty identifier"}, ""},
		{"identifier with a space", func(c *plugsurfing.Config) { c.Users = users("username:jane doe") }, []string{`entry 1 ("username:jane doe") holds white space`}, ""},
		{"duplicate user", func(c *plugsurfing.Config) { c.Users = users("rfid:04AB", "rfid:04AB") }, []string{`--plugsurfing-users/PLUGSURFING_USERS lists "rfid:04AB" twice`}, ""},
		{"duplicate token-type user", func(c *plugsurfing.Config) { c.Users = users("token:s3cr3t", "token:s3cr3t") }, []string{"lists token:sha256-"}, "s3cr3t"},
		{"no users", func(c *plugsurfing.Config) { c.Users = nil }, []string{"--plugsurfing-users/PLUGSURFING_USERS must list at least one user"}, ""},
		{"relative base URL", func(c *plugsurfing.Config) { c.BaseURL = "api.plugsurfing.com" }, []string{"--plugsurfing-base-url/PLUGSURFING_BASE_URL must be an absolute http(s) URL"}, ""},
		{"base URL with a query", func(c *plugsurfing.Config) { c.BaseURL = "https://api.plugsurfing.com/?key=s3cr3t" }, []string{"must not carry a query"}, ""},
		{"bad start", func(c *plugsurfing.Config) { c.Start = "last month" }, []string{`--plugsurfing-start/PLUGSURFING_START must be a duration before now (720h), a date (2026-01-01) or an RFC 3339 time`}, ""},
		{"negative start", func(c *plugsurfing.Config) { c.Start = "-1h" }, []string{"--plugsurfing-start/PLUGSURFING_START"}, ""},
		{"every problem at once", func(c *plugsurfing.Config) {
			c.Window, c.Settle, c.Reread, c.UTCOffset, c.MaxResponseBytes = time.Millisecond, -time.Second, -time.Hour, "Z", 10
		}, []string{
			"--plugsurfing-window/PLUGSURFING_WINDOW must be ≥ 1s, got 1ms", "--plugsurfing-settle/PLUGSURFING_SETTLE must be ≥ 0, got -1s",
			"--plugsurfing-reread/PLUGSURFING_REREAD must be ≥ 0, got -1h0m0s", `--plugsurfing-utc-offset/PLUGSURFING_UTC_OFFSET must be an offset like +01:00`,
			"--plugsurfing-max-response-bytes/PLUGSURFING_MAX_RESPONSE_BYTES must be ≥ 1024, got 10",
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mod(&cfg)
			err := cfg.Validate()
			if !providertest.CheckValidate(t, err, tc.want) {
				return
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Errorf("Validate() = %q shows %q", err, tc.hide)
			}
		})
	}
}

func TestProviderNewSourceFromSettings(t *testing.T) {
	p := plugsurfing.Provider{}
	env := plugsurfing.SimEnv("http://127.0.0.1:8081/plugsurfing")
	v := providertest.Values(t, p, env)
	src, err := p.NewSource(v, nil)
	if err != nil {
		t.Fatalf("NewSource with the simulator's settings: %v", err)
	}
	scopes, _ := src.Scopes(t.Context())
	if len(scopes) != len(plugsurfing.SimUsers()) || scopes[0] != "username:some_user" {
		t.Errorf("Scopes = %v", scopes)
	}
	for _, tc := range []struct {
		name, setting, value, says string
	}{
		{"bad identifier type", "plugsurfing-users", "username:some_user,mail:jane@example.com", "--plugsurfing-users/PLUGSURFING_USERS entry 2 has identifier type \"mail\""},
		{"token for an unknown user", "plugsurfing-users", "username:some_user", "--plugsurfing-tokens/PLUGSURFING_TOKENS entry 2 is not"},
		{"bad window", "plugsurfing-window", "500ms", "--plugsurfing-window/PLUGSURFING_WINDOW must be ≥ 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := p.NewSource(v.With(tc.setting, tc.value), nil)
			if src != nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("NewSource = %T, %v; want nil and an error saying %q", src, err, tc.says)
			}
			for _, u := range plugsurfing.SimUsers() {
				if strings.Contains(err.Error(), u.Token.Reveal()) {
					t.Errorf("the error shows a token: %v", err)
				}
			}
		})
	}
}

func TestTokensFromFile(t *testing.T) {
	p := plugsurfing.Provider{}
	path := filepath.Join(t.TempDir(), "tokens")
	// What a mounted Kubernetes Secret holds: one entry per line, a trailing newline.
	if err := os.WriteFile(path, []byte("username:some_user=b369f99e82fa097ba9cff8658c74e47c\nrfid:04AB12CD34EF56=5f0c2e7d9a8b4c61a3e2f1d0c9b8a7e6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := providertest.Serve(t, plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)}))
	v := providertest.Values(t, p, map[string]string{
		"PLUGSURFING_BASE_URL":    srv.URL + "/",
		"PLUGSURFING_USERS":       "username:some_user,rfid:04AB12CD34EF56",
		"PLUGSURFING_TOKENS_FILE": path,
	})
	src, err := plugsurfing.Provider{Now: providertest.Fixed(testNow)}.NewSource(v, srv.Client())
	if err != nil {
		t.Fatalf("NewSource with tokens from a file: %v", err)
	}
	for _, scope := range []string{"username:some_user", "rfid:04AB12CD34EF56"} {
		if err := src.Fetch(t.Context(), scope, "", func(poll.Record) error { return nil }); err != nil {
			t.Errorf("Fetch(%s) with the token from the file: %v", scope, err)
		}
	}
}

func TestPrintingNeverShowsTokens(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:8081")
	src := newSource(t, cfg, nil, nil)
	client := newClient(t, cfg, nil)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, cfg.Users, cfg.Users[3], src, client} {
			out := fmt.Sprintf(format, v)
			for _, u := range cfg.Users {
				if strings.Contains(out, u.Token.Reveal()) || (u.IdentifierType == plugsurfing.IdentifierToken && strings.Contains(out, u.Identifier)) {
					t.Errorf("fmt %s of %T shows a secret: %s", format, v, out)
				}
			}
		}
	}
}
