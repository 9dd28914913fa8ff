package ops_test

import (
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// noBackfill is a provider without the optional Backfiller ability: the embedded interface
// promotes only Provider's methods.
type noBackfill struct{ providers.Provider }

func TestBemoSupportsBackfill(t *testing.T) {
	if _, err := providers.BackfillerOf(bemo.Provider{}); err != nil {
		t.Fatal(err)
	}
}

// TestUsageErrorsExitTwoBeforeConnecting: every bad invocation is refused with exit code 2 and
// a message naming the problem, before anything is dialled (the NATS URL points nowhere).
func TestUsageErrorsExitTwoBeforeConnecting(t *testing.T) {
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:1", "CLICKHOUSE_DSN": "clickhouse://127.0.0.1:1/chargeline"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no command", args: nil, want: "usage: chargectl"},
		{name: "unknown command", args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{name: "group without subcommand", args: []string{"dlq"}, want: `unknown command "dlq"`},
		{name: "positional argument", args: []string{"status", "extra"}, want: "unexpected arguments"},
		{name: "unknown flag", args: []string{"status", "--colour"}, want: "flag provided but not defined"},
		{name: "set without provider", args: []string{"checkpoints", "set", "--scope=a", "--at=2026-11-01"}, want: "--provider/CHARGECTL_PROVIDER is required"},
		{name: "set of an unknown provider", args: []string{"checkpoints", "set", "--provider=nope", "--scope=a", "--at=2026-11-01"}, want: `names no known provider: "nope"`},
		{name: "set without a checkpoint", args: []string{"checkpoints", "set", "--provider=bemo", "--scope=a"}, want: "--checkpoint/CHARGECTL_CHECKPOINT or --at is required"},
		{name: "set with both forms", args: []string{"checkpoints", "set", "--provider=bemo", "--scope=a", "--at=2026-11-01", `--checkpoint={"next_day":"2026-11-01"}`}, want: "exclude each other"},
		{name: "set a checkpoint the provider cannot read", args: []string{"checkpoints", "set", "--provider=bemo", "--scope=a", "--checkpoint=yesterday"}, want: "is not a bemo checkpoint"},
		{name: "set at a malformed date", args: []string{"checkpoints", "set", "--provider=bemo", "--scope=a", "--at=11/01/2026"}, want: "--at/CHARGECTL_AT must be a date"},
		{name: "replay without selection", args: []string{"dlq", "replay"}, want: "--all/CHARGECTL_ALL is required"},
		{name: "unknown stage", args: []string{"dlq", "list", "--stage=map"}, want: "must be normalize or sink"},
		{name: "bad sequence", args: []string{"dlq", "replay", "--seq=1,x"}, want: `--seq/CHARGECTL_SEQ must list stream sequences`},
		{name: "show without sequence", args: []string{"dlq", "show"}, want: "--seq/CHARGECTL_SEQ is required"},
		{name: "backfill without from", args: []string{"backfill", "--provider=bemo"}, want: "--from/CHARGECTL_FROM is required"},
		{name: "backfill to before from", args: []string{"backfill", "--provider=bemo", "--from=2026-11-10", "--to=2026-11-09"}, want: "--to/CHARGECTL_TO must not be before --from"},
		{name: "backfill without credentials", args: []string{"backfill", "--provider=bemo", "--from=2026-11-10"}, want: "BEMO_ACCESS_TOKEN"},
		{name: "reconcile bad day", args: []string{"reconcile", "--from=last week"}, want: "--from/CHARGECTL_FROM must be a date"},
		{name: "migrate over HTTP", args: []string{"migrate", "--clickhouse-dsn=http://127.0.0.1:8123/chargeline"}, want: "native protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCLI(env).run(t, tt.args...)
			if r.code != ops.ExitUsage {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", r.code, ops.ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
		})
	}

	t.Run("backfill of a provider without the ability", func(t *testing.T) {
		c := newCLI(env)
		c.providers = []providers.Provider{noBackfill{bemo.Provider{}}}
		r := c.must(t, ops.ExitUsage, "backfill", "--provider=bemo", "--from=2026-11-10")
		if !strings.Contains(r.stderr, "provider bemo does not support backfill") {
			t.Fatalf("stderr does not say the provider cannot backfill:\n%s", r.stderr)
		}
	})
}

func TestHelpExitsZeroAndDocumentsExitCodes(t *testing.T) {
	c := newCLI(nil)
	r := c.must(t, ops.ExitOK, "help")
	for _, want := range []string{"status", "checkpoints set", "dlq replay", "migrate", "backfill", "reconcile", "3  reconcile found days that are not ok", "4  a checkpoint changed concurrently"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	r = c.must(t, ops.ExitOK, "reconcile", "--help")
	for _, want := range []string{"Method.", "MISSING", "Exit code 3", "-clickhouse-dsn", "-nats-url"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("reconcile --help does not mention %q:\n%s", want, r.stderr)
		}
	}
}

func TestUnreachableNATSIsARuntimeFailure(t *testing.T) {
	r := newCLI(map[string]string{"NATS_URL": "nats://127.0.0.1:1"}).must(t, ops.ExitFailure, "status")
	if !strings.Contains(r.stderr, "connect to NATS at nats://127.0.0.1:1") {
		t.Fatalf("stderr does not say NATS is unreachable:\n%s", r.stderr)
	}
}
