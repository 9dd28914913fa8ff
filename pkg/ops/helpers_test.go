package ops_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// cli runs chargectl's Main the way services/chargectl does, with a chosen environment,
// providers and clock.
type cli struct {
	env       map[string]string
	providers []providers.Provider
	now       func() time.Time
}

func newCLI(env map[string]string) *cli {
	return &cli{env: env, providers: []providers.Provider{bemo.Provider{}}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (c *cli) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := ops.Main(t.Context(), args, ops.Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return c.env[k] },
		Providers: c.providers, Now: c.now,
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// must runs a command that must exit with code want.
func (c *cli) must(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := c.run(t, args...)
	if r.code != want {
		t.Fatalf("chargectl %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// json runs a command with --json, checks its exit code and decodes its output into v.
func (c *cli) json(t *testing.T, want int, v any, args ...string) result {
	t.Helper()
	r := c.must(t, want, append(args, "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("chargectl %s --json: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return r
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
