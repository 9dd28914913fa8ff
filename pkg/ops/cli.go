package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
)

// Exit codes of chargectl.
const (
	ExitOK          = service.ExitOK      // the command did what was asked
	ExitFailure     = service.ExitFailure // a runtime failure: NATS or ClickHouse unreachable, a replay not acknowledged …
	ExitUsage       = service.ExitConfig  // a usage or configuration error, reported before anything changed
	ExitDifferences = 3                   // reconcile found days that are not ok
	ExitConflict    = 4                   // a checkpoint changed concurrently: compare-and-set refused the write
)

// ErrDifferences is returned by Reconcile (with its report) when a day is not ok.
var ErrDifferences = errors.New("ops: reconcile found differences")

// ErrIncomplete is returned (with the report) by a command that did part of its work: a replay
// that left messages in the DLQ, a backfill whose scope failed.
var ErrIncomplete = errors.New("ops: not every item succeeded")

// Env is what Main takes from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (os.Getenv in main).
	Getenv func(string) string
	// Providers are the integrations chargectl knows (providers.All() in main).
	Providers []providers.Provider
	// Now is the clock for ages and replay guards; nil means time.Now.
	Now func() time.Time
}

// report is a command's result: a table for people, JSON (its exported fields) for scripts.
type report interface {
	table(w io.Writer)
}

type command struct {
	name     string // "dlq replay"
	synopsis string // flags in the usage line
	summary  string // one line in the command list
	help     string // what it does, how, and its exit codes
	settings func(env Env) [][]config.Setting
	run      func(ctx context.Context, s *session) (report, error)
}

// Main runs chargectl with args (without the program name) and returns the exit code. ctx ends
// the command early (main cancels it on SIGINT/SIGTERM).
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		w := env.Stdout
		code := ExitOK
		if len(args) == 0 {
			w, code = env.Stderr, ExitUsage
		}
		usage(w)
		return code
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(env.Stderr, "chargectl: unknown command %q\n\n", strings.Join(commandWords(args), " "))
		usage(env.Stderr)
		return ExitUsage
	}
	fs := flag.NewFlagSet("chargectl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: chargectl %s %s\n\n%s\n\nflags (each also an environment variable):\n", cmd.name, cmd.synopsis, strings.TrimSpace(cmd.help))
		fs.PrintDefaults()
	}
	v, err := config.Load(fs, rest, env.Getenv, cmd.settings(env)...)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "chargectl %s: %v\n(chargectl %s --help lists the flags)\n", cmd.name, err, cmd.name)
		return ExitUsage
	}
	s := &session{v: v, env: env, logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer s.close()
	rep, err := cmd.run(ctx, s)
	if rep != nil {
		if v.Bool("json") {
			if jerr := writeJSON(env.Stdout, rep); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
			rep.table(tw)
			tw.Flush()
		}
	}
	return exitCode(err, cmd.name, env.Stderr)
}

func exitCode(err error, name string, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "chargectl %s: %v\n", name, err)
	switch {
	case errors.Is(err, config.ErrInvalid):
		return ExitUsage
	case errors.Is(err, ErrDifferences):
		return ExitDifferences
	case errors.Is(err, poll.ErrConflict):
		return ExitConflict
	}
	return ExitFailure
}

// lookup finds the command named by the leading words of args (one or two), returning the
// remaining arguments.
func lookup(args []string) (command, []string, bool) {
	words := commandWords(args)
	for n := len(words); n > 0; n-- {
		name := strings.Join(words[:n], " ")
		for _, c := range commands() {
			if c.name == name {
				return c, args[n:], true
			}
		}
	}
	return command{}, nil, false
}

func commandWords(args []string) []string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 2 {
			break
		}
		words = append(words, a)
	}
	return words
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `chargectl operates a chargeline pipeline: NATS JetStream (RAW, EVENTS, DLQ, the poller
checkpoints) and ClickHouse.

usage: chargectl <command> [flags]     chargectl <command> --help for its flags

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Output is a table; --json prints one JSON document for scripts. NATS is reached with the
services' settings (NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY,
NATS_CA/CERT/KEY), ClickHouse with the sink's (CLICKHOUSE_DSN, CLICKHOUSE_USER,
CLICKHOUSE_PASSWORD); each also a flag (--nats-url …).

exit codes:
  0  ok
  1  runtime failure (NATS or ClickHouse unreachable, a replay not acknowledged, a backfill scope failed)
  2  usage or configuration error, reported before anything changed
  3  reconcile found days that are not ok
  4  a checkpoint changed concurrently (compare-and-set refused the write); nothing was written
`)
}

// session holds a command's settings and connections, opened on first use and closed by Main.
type session struct {
	v      config.Values
	env    Env
	logger *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	ch     driver.Conn
}

func (s *session) jetStream(ctx context.Context) (jetstream.JetStream, error) {
	if s.js != nil {
		return s.js, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	nc, err := bus.Connect(cctx, bus.ConnFrom(s.v, "chargectl"), s.logger)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := bus.CheckProvisioned(cctx, js); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w (the services create them at start)", err)
	}
	s.nc, s.js = nc, js
	return js, nil
}

func (s *session) clickHouse() (driver.Conn, error) {
	if s.ch != nil {
		return s.ch, nil
	}
	conn, err := sink.Open(sink.Config{
		DSN:      s.v.String("clickhouse-dsn"),
		User:     s.v.String("clickhouse-user"),
		Password: s.v.Secret("clickhouse-password"),
		Cluster:  s.v.String("clickhouse-cluster"),
	})
	if err != nil {
		return nil, err
	}
	s.ch = conn
	return conn, nil
}

func (s *session) close() {
	if s.ch != nil {
		_ = s.ch.Close()
	}
	if s.nc != nil {
		// Every publish was awaited; Drain only flushes what is still buffered.
		_ = s.nc.Drain()
	}
}

// provider returns the --provider setting's provider (a usage error when unknown).
func (s *session) provider() (providers.Provider, error) {
	name := s.v.String("provider")
	for _, p := range s.env.Providers {
		if p.Name() == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range s.env.Providers {
		names = append(names, p.Name())
	}
	return nil, s.v.Invalid("provider", "names no known provider: %q (known: %s)", name, strings.Join(names, ", "))
}

// Settings of chargectl's commands. NATS and ClickHouse settings are the services' own.

func jsonSetting() config.Setting {
	return config.Setting{Name: "json", Env: "CHARGECTL_JSON", Kind: config.Bool, Usage: "print one JSON document instead of a table"}
}

func natsSettings(extra ...config.Setting) func(Env) [][]config.Setting {
	return func(Env) [][]config.Setting {
		return [][]config.Setting{bus.ConnSettings(), append([]config.Setting{jsonSetting()}, extra...)}
	}
}

// clickHouseSettings are the sink's connection settings (DSN, user, password), not its
// batching ones.
func clickHouseSettings() []config.Setting {
	var out []config.Setting
	for _, st := range sink.Settings() {
		if strings.HasPrefix(st.Name, "clickhouse-") {
			out = append(out, st)
		}
	}
	return out
}

// providerSettings are every provider's settings with Required relaxed: only the chosen
// provider's are checked, by its NewSource (the poller does the same).
func providerSettings(env Env) [][]config.Setting {
	var out [][]config.Setting
	for _, p := range env.Providers {
		group := slices.Clone(p.Settings())
		for i := range group {
			group[i].Required = false
		}
		out = append(out, group)
	}
	return out
}

func providerFlag(required bool) config.Setting {
	return config.Setting{Name: "provider", Env: "CHARGECTL_PROVIDER", Required: required, Usage: "provider (bemo, …)"}
}

func commands() []command {
	return []command{
		statusCommand(),
		checkpointsShowCommand(), checkpointsSetCommand(), checkpointsResetCommand(),
		dlqListCommand(), dlqShowCommand(), dlqReplayCommand(),
		migrateCommand(),
		backfillCommand(),
		reconcileCommand(),
		verifyCommand(),
		gapsCommand(),
	}
}

// parseTime reads --from/--to style values: a UTC date (2026-11-20) or an RFC 3339 time.
func parseTime(v config.Values, name string) (time.Time, bool, error) {
	s := v.String(name)
	if s == "" {
		return time.Time{}, false, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true, nil
	}
	return time.Time{}, false, v.Invalid(name, "must be a date like 2026-11-20 or a time like 2026-11-20T15:04:05Z, got %q", s)
}
