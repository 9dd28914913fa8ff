package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testSettings = []Setting{
	{Name: "url", Env: "X_URL", Kind: URL, Default: "nats://127.0.0.1:4222"},
	{Name: "wait", Env: "X_WAIT", Kind: Duration, Default: "1s", Min: int64(time.Millisecond)},
	{Name: "rows", Env: "X_ROWS", Kind: Int, Default: "10", Min: 1},
	{Name: "token", Env: "X_TOKEN", Secret: true, Required: true},
	{Name: "accounts", Env: "X_ACCOUNTS", Kind: List, Required: true},
	{Name: "on", Env: "X_ON", Kind: Bool, Default: "false"},
}

func load(args []string, env map[string]string) (Values, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] }, testSettings)
}

func TestLoadRejectsEveryInvalidValueNamingTheSetting(t *testing.T) {
	good := map[string]string{"X_TOKEN": "s3cret", "X_ACCOUNTS": "a,b"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // "" = valid
	}{
		{name: "defaults and required values", env: good},
		{name: "missing secret", env: map[string]string{"X_ACCOUNTS": "a"}, wantErr: "--token/X_TOKEN is required"},
		{name: "empty account list", env: with("X_ACCOUNTS", " , "), wantErr: "--accounts/X_ACCOUNTS must list at least one value"},
		{name: "malformed URL", env: with("X_URL", "not a url"), wantErr: "--url/X_URL must be an absolute URL"},
		{name: "bad duration", env: with("X_WAIT", "soon"), wantErr: `--wait/X_WAIT must be a duration like 30s or 5m, got "soon"`},
		{name: "duration below minimum", env: with("X_WAIT", "0s"), wantErr: "--wait/X_WAIT must be ≥ 1ms"},
		{name: "not an integer", env: with("X_ROWS", "many"), wantErr: `--rows/X_ROWS must be an integer, got "many"`},
		{name: "integer below minimum", env: with("X_ROWS", "0"), wantErr: "--rows/X_ROWS must be ≥ 1, got 0"},
		{name: "bad bool", env: with("X_ON", "maybe"), wantErr: "--on/X_ON must be true or false"},
		{name: "unreadable _FILE", env: map[string]string{"X_ACCOUNTS": "a", "X_TOKEN_FILE": "/nonexistent/token"}, wantErr: `X_TOKEN_FILE: cannot read "/nonexistent/token"`},
		{name: "flag overrides env", args: []string{"--rows", "0"}, env: with("X_ROWS", "5"), wantErr: "--rows/X_ROWS must be ≥ 1"},
		{name: "unknown flag", args: []string{"--nope"}, env: good, wantErr: "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.args, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadReportsAllProblemsTogether(t *testing.T) {
	_, err := load(nil, map[string]string{"X_ROWS": "x", "X_WAIT": "y"})
	for _, want := range []string{"X_ROWS", "X_WAIT", "X_TOKEN", "X_ACCOUNTS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestValuesAndSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := load([]string{"--on", "--rows=42"}, map[string]string{"X_TOKEN_FILE": path, "X_ACCOUNTS": " a, ,b "})
	if err != nil {
		t.Fatal(err)
	}
	if v.Secret("token").Reveal() != "from-file" || v.Int("rows") != 42 || !v.Bool("on") ||
		v.Duration("wait") != time.Second || strings.Join(v.List("accounts"), "|") != "a|b" {
		t.Fatalf("values: token %q rows %d on %v wait %s accounts %q", v.Secret("token").Reveal(), v.Int("rows"), v.Bool("on"), v.Duration("wait"), v.List("accounts"))
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", slog.Any("token", s))
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), b.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got := Redact("nats://user:pw@host:4222"); strings.Contains(got, "pw") {
		t.Errorf("Redact left the password: %s", got)
	}
}

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		raw        string
		allowQuery bool
		want       string // "" = accepted
	}{
		{"https://api.example/v1", false, ""},
		{"http://127.0.0.1:8080", false, ""},
		{"https://api.example/v1?code=x", true, ""},
		{"api.example", false, "must be an absolute http(s) URL like https://x.example"},
		{"ftp://api.example", false, "must be an absolute http(s) URL"},
		{"https://", false, "must be an absolute http(s) URL"},
		{"https://api.example/?a=1", false, "must not carry a query or fragment"},
		{"https://api.example/#f", true, "must not carry a fragment"},
		{"https://user:hunter2@api.example/?a=1", false, "user:xxxxx@"},
	} {
		err := CheckBaseURL(tc.raw, "https://x.example", tc.allowQuery)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckBaseURL(%q) = %v, want nil", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckBaseURL(%q) = %v, want an error containing %q", tc.raw, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("CheckBaseURL(%q) shows the password: %v", tc.raw, err)
		}
	}
}
