package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
)

// CheckpointStatus is one poller checkpoint (a key of poller_checkpoints).
type CheckpointStatus struct {
	Provider   string `json:"provider"`
	Scope      string `json:"scope"`
	Key        string `json:"key"`
	Checkpoint string `json:"checkpoint"`
	// ResumesAt is the time the checkpoint resumes at, for providers that can tell
	// (providers.Backfiller): every record before it was read.
	ResumesAt *time.Time `json:"resumes_at,omitempty"`
	Revision  uint64     `json:"revision"`
	// Updated is when the checkpoint was last written (the KV entry's time); Age is now minus it.
	Updated    time.Time `json:"updated"`
	AgeSeconds int64     `json:"age_seconds"`
	// LeaseHolder is the poller replica polling the scope right now, if any.
	LeaseHolder string `json:"lease_holder,omitempty"`
}

// CheckpointsReport lists checkpoints.
type CheckpointsReport struct {
	Checkpoints []CheckpointStatus `json:"checkpoints"`
}

func (r *CheckpointsReport) table(w io.Writer) { checkpointTable(w, r.Checkpoints) }

func checkpointTable(w io.Writer, cps []CheckpointStatus) {
	fmt.Fprintln(w, "PROVIDER\tSCOPE\tRESUMES AT\tUPDATED\tAGE\tREVISION\tLEASE\tCHECKPOINT")
	if len(cps) == 0 {
		fmt.Fprintln(w, "(no checkpoints: no poller has completed a window yet)")
	}
	for _, c := range cps {
		resumes := "-"
		if c.ResumesAt != nil {
			resumes = timeText(*c.ResumesAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.Provider, c.Scope, resumes, timeText(c.Updated),
			humanAge(time.Duration(c.AgeSeconds)*time.Second), c.Revision, cell(c.LeaseHolder, 40), cell(c.Checkpoint, 60))
	}
}

// listCheckpoints reads the checkpoints of provider (all when "") restricted to scopes (all when
// empty), with the lease holders of their scopes.
func listCheckpoints(ctx context.Context, js jetstream.JetStream, provs []providers.Provider, provider string, scopes []string, now time.Time) ([]CheckpointStatus, error) {
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bus.BucketCheckpoints, err)
	}
	pattern := jetstream.AllKeys
	if provider != "" {
		pattern = provider + ".*"
	}
	entries, err := latest(ctx, kv, pattern)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bus.BucketCheckpoints, err)
	}
	leases := map[string]string{}
	if lkv, err := js.KeyValue(ctx, bus.BucketLeases); err == nil {
		les, err := latest(ctx, lkv, pattern)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", bus.BucketLeases, err)
		}
		for _, e := range les {
			leases[e.Key()] = string(e.Value())
		}
	}
	out := []CheckpointStatus{}
	for _, e := range entries {
		p, scope, ok := splitKey(e.Key())
		if !ok || (len(scopes) > 0 && !slices.Contains(scopes, scope)) {
			continue
		}
		c := CheckpointStatus{
			Provider: p, Scope: scope, Key: e.Key(), Checkpoint: string(e.Value()), Revision: e.Revision(),
			Updated: e.Created().UTC(), AgeSeconds: int64(now.Sub(e.Created()) / time.Second), LeaseHolder: leases[e.Key()],
		}
		c.ResumesAt = resumesAt(provs, p, poll.Checkpoint(e.Value()))
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b CheckpointStatus) int {
		return strings.Compare(a.Provider+"\x00"+a.Scope, b.Provider+"\x00"+b.Scope)
	})
	return out, nil
}

func resumesAt(provs []providers.Provider, provider string, cp poll.Checkpoint) *time.Time {
	for _, p := range provs {
		if p.Name() != provider {
			continue
		}
		if b, ok := p.(providers.Backfiller); ok {
			if t, err := b.CheckpointTime(cp); err == nil {
				return timePtr(t)
			}
		}
	}
	return nil
}

// latest returns the current entry of every key matching pattern (deleted keys left out).
func latest(ctx context.Context, kv jetstream.KeyValue, pattern string) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.Watch(ctx, pattern, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // the initial values are all delivered
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// splitKey reverses poll.Key: "<provider>.<scope with _XX escapes>".
func splitKey(key string) (provider, scope string, ok bool) {
	provider, esc, ok := strings.Cut(key, ".")
	if !ok {
		return "", "", false
	}
	var b strings.Builder
	for i := 0; i < len(esc); i++ {
		if esc[i] == '_' && i+2 < len(esc) {
			if n, err := strconv.ParseUint(esc[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(esc[i])
	}
	return provider, b.String(), true
}

// CheckpointChange is the result of checkpoints set or reset.
type CheckpointChange struct {
	Provider string `json:"provider"`
	Scope    string `json:"scope"`
	Action   string `json:"action"` // set, reset, none (reset of a missing checkpoint)
	Before   string `json:"before"`
	// BeforeRevision is 0 when there was no checkpoint.
	BeforeRevision uint64 `json:"before_revision"`
	After          string `json:"after"`
	// AfterRevision is the revision written by set (0 after reset).
	AfterRevision uint64 `json:"after_revision"`
	// LeaseHolder is the poller polling the scope while the change was made: it notices at its
	// next checkpoint write (compare-and-set fails), gives the scope up and resumes from the
	// new checkpoint.
	LeaseHolder string `json:"lease_holder,omitempty"`
}

func (c *CheckpointChange) table(w io.Writer) {
	show := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	fmt.Fprintf(w, "PROVIDER\tSCOPE\tACTION\tBEFORE (REVISION)\tAFTER (REVISION)\n")
	fmt.Fprintf(w, "%s\t%s\t%s\t%s (%d)\t%s (%d)\n", c.Provider, c.Scope, c.Action, show(c.Before), c.BeforeRevision, show(c.After), c.AfterRevision)
	if c.LeaseHolder != "" {
		fmt.Fprintf(w, "\npoller %s holds the scope: its next checkpoint write fails (compare-and-set), it gives the scope up and resumes from the new checkpoint.\n", c.LeaseHolder)
	}
}

// SetCheckpoint writes cp as the checkpoint of provider/scope with compare-and-set: at
// revision *expect when expect is not nil (0: there must be no checkpoint), else at the revision
// read just before. A checkpoint changed by someone else (a running poller) returns an error
// wrapping poll.ErrConflict and writes nothing.
func SetCheckpoint(ctx context.Context, js jetstream.JetStream, provider, scope string, cp poll.Checkpoint, expect *uint64) (*CheckpointChange, error) {
	kv, cur, err := readCheckpoint(ctx, js, provider, scope)
	if err != nil {
		return nil, err
	}
	if err := checkExpected(provider, scope, cur, expect); err != nil {
		return nil, err
	}
	rev, err := poll.NewCheckpoints(kv).Set(ctx, provider, scope, cp, cur.rev)
	if errors.Is(err, poll.ErrConflict) {
		return nil, changedMeanwhile(ctx, kv, provider, scope, cur.rev)
	}
	if err != nil {
		return nil, err
	}
	return &CheckpointChange{
		Provider: provider, Scope: scope, Action: "set", Before: cur.value, BeforeRevision: cur.rev,
		After: string(cp), AfterRevision: rev, LeaseHolder: leaseHolder(ctx, js, provider, scope),
	}, nil
}

// ResetCheckpoint deletes the checkpoint of provider/scope with compare-and-set (see
// SetCheckpoint), so the next poll starts where the provider starts a new scope. A missing
// checkpoint is not an error: Action is "none".
func ResetCheckpoint(ctx context.Context, js jetstream.JetStream, provider, scope string, expect *uint64) (*CheckpointChange, error) {
	kv, cur, err := readCheckpoint(ctx, js, provider, scope)
	if err != nil {
		return nil, err
	}
	if err := checkExpected(provider, scope, cur, expect); err != nil {
		return nil, err
	}
	change := &CheckpointChange{Provider: provider, Scope: scope, Action: "none"}
	if cur.rev == 0 {
		return change, nil
	}
	err = kv.Delete(ctx, poll.Key(provider, scope), jetstream.LastRevision(cur.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil, changedMeanwhile(ctx, kv, provider, scope, cur.rev)
	}
	if err != nil {
		return nil, fmt.Errorf("delete checkpoint %s/%s: %w", provider, scope, err)
	}
	change.Action, change.Before, change.BeforeRevision = "reset", cur.value, cur.rev
	change.LeaseHolder = leaseHolder(ctx, js, provider, scope)
	return change, nil
}

type current struct {
	value   string
	rev     uint64
	created time.Time
}

func readCheckpoint(ctx context.Context, js jetstream.JetStream, provider, scope string) (jetstream.KeyValue, current, error) {
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return nil, current{}, fmt.Errorf("bucket %s: %w", bus.BucketCheckpoints, err)
	}
	e, err := kv.Get(ctx, poll.Key(provider, scope))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return kv, current{}, nil
	case err != nil:
		return nil, current{}, fmt.Errorf("read checkpoint %s/%s: %w", provider, scope, err)
	}
	return kv, current{value: string(e.Value()), rev: e.Revision(), created: e.Created()}, nil
}

func checkExpected(provider, scope string, cur current, expect *uint64) error {
	if expect == nil || *expect == cur.rev {
		return nil
	}
	if cur.rev == 0 {
		return fmt.Errorf("checkpoint %s/%s no longer exists (expected revision %d); nothing written: %w", provider, scope, *expect, poll.ErrConflict)
	}
	return fmt.Errorf("checkpoint %s/%s is at revision %d (%s, written %s), not the expected %d: a poller or another operator changed it; nothing written, run `chargectl checkpoints show` and retry: %w",
		provider, scope, cur.rev, cur.value, timeText(cur.created), *expect, poll.ErrConflict)
}

// changedMeanwhile reports a compare-and-set refusal with what the checkpoint is now.
func changedMeanwhile(ctx context.Context, kv jetstream.KeyValue, provider, scope string, rev uint64) error {
	now := "deleted"
	if e, err := kv.Get(ctx, poll.Key(provider, scope)); err == nil {
		now = fmt.Sprintf("revision %d, %s", e.Revision(), e.Value())
	}
	return fmt.Errorf("checkpoint %s/%s changed between reading revision %d and writing (now %s): a running poller committed; nothing written, run `chargectl checkpoints show` and retry: %w",
		provider, scope, rev, now, poll.ErrConflict)
}

func leaseHolder(ctx context.Context, js jetstream.JetStream, provider, scope string) string {
	kv, err := js.KeyValue(ctx, bus.BucketLeases)
	if err != nil {
		return ""
	}
	e, err := kv.Get(ctx, poll.Key(provider, scope))
	if err != nil {
		return ""
	}
	return string(e.Value())
}

func revisionSetting() config.Setting {
	return config.Setting{Name: "revision", Env: "CHARGECTL_REVISION", Kind: config.Int,
		Usage: "write only if the checkpoint is still at this revision (from checkpoints show; 0: only if there is none); default: the revision read just before writing"}
}

func expectedRevision(v config.Values) *uint64 {
	if v.String("revision") == "" {
		return nil
	}
	n := uint64(v.Int("revision"))
	return &n
}

func checkpointsShowCommand() command {
	return command{
		name: "checkpoints show", synopsis: "[--provider P] [--scope S,…] [--json]",
		summary: "show poller checkpoints: position, revision, last write and its age, lease holder",
		help: `Lists the poller checkpoints (KV bucket poller_checkpoints), one per provider scope, with the
revision a set or reset can be made conditional on (--revision), when it was last written and
how long ago, the time it resumes at (for providers that can tell), and the poller replica that
holds the scope's lease right now.`,
		settings: natsSettings(providerFlag(false),
			config.Setting{Name: "scope", Env: "CHARGECTL_SCOPE", Kind: config.List, Usage: "scopes to show (comma-separated); default all"}),
		run: func(ctx context.Context, s *session) (report, error) {
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			cps, err := listCheckpoints(ctx, js, s.env.Providers, s.v.String("provider"), s.v.List("scope"), s.env.Now())
			if err != nil {
				return nil, err
			}
			return &CheckpointsReport{Checkpoints: cps}, nil
		},
	}
}

func checkpointsSetCommand() command {
	return command{
		name: "checkpoints set", synopsis: "--provider P --scope S (--checkpoint TEXT | --at DATE) [--revision N] [--json]",
		summary: "set a scope's checkpoint (compare-and-set against a running poller)",
		help: `Writes a scope's checkpoint: --checkpoint takes the provider's checkpoint text as checkpoints
show prints it (e.g. Be-Mo {"next_day":"2026-11-01"}); --at DATE builds it for providers that
support backfill, so the next poll re-reads from that day. Providers that can read their
checkpoints check the text first.

The write is a compare-and-set on the KV revision: at --revision N when given (from checkpoints
show), else at the revision read just before. If a running poller committed in between, nothing
is written and the command exits 4 saying what the checkpoint is now. A poller holding the
scope notices the change at its next checkpoint write, gives the scope up, and resumes from the
new checkpoint.`,
		settings: natsSettings(providerFlag(true),
			config.Setting{Name: "scope", Env: "CHARGECTL_SCOPE", Required: true, Usage: "the scope (account, organization …)"},
			config.Setting{Name: "checkpoint", Env: "CHARGECTL_CHECKPOINT", Usage: "the checkpoint text"},
			config.Setting{Name: "at", Env: "CHARGECTL_AT", Usage: "build the checkpoint that resumes at this date (YYYY-MM-DD) or time (RFC 3339)"},
			revisionSetting()),
		run: func(ctx context.Context, s *session) (report, error) {
			p, err := s.provider()
			if err != nil {
				return nil, err
			}
			cp, err := checkpointArg(s.v, p)
			if err != nil {
				return nil, err
			}
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			return reportOrNil(SetCheckpoint(ctx, js, p.Name(), s.v.String("scope"), cp, expectedRevision(s.v)))
		},
	}
}

// checkpointArg reads --checkpoint or --at (exactly one) and checks the text when the provider
// can read its checkpoints.
func checkpointArg(v config.Values, p providers.Provider) (poll.Checkpoint, error) {
	text, at := v.String("checkpoint"), v.String("at")
	switch {
	case text != "" && at != "":
		return "", v.Invalid("at", "and --checkpoint exclude each other")
	case text == "" && at == "":
		return "", v.Invalid("checkpoint", "or --at is required")
	}
	if at != "" {
		b, err := providers.BackfillerOf(p)
		if err != nil {
			return "", v.Invalid("at", "cannot be used: %v; give --checkpoint", err)
		}
		t, _, err := parseTime(v, "at")
		if err != nil {
			return "", err
		}
		cp, err := b.BackfillCheckpoint(t)
		if err != nil {
			return "", v.Invalid("at", "%v", err)
		}
		return cp, nil
	}
	if b, err := providers.BackfillerOf(p); err == nil {
		if _, err := b.CheckpointTime(poll.Checkpoint(text)); err != nil {
			return "", v.Invalid("checkpoint", "is not a %s checkpoint: %v", p.Name(), err)
		}
	}
	return poll.Checkpoint(text), nil
}

func checkpointsResetCommand() command {
	return command{
		name: "checkpoints reset", synopsis: "--provider P --scope S [--revision N] [--json]",
		summary: "delete a scope's checkpoint, so its next poll starts over (compare-and-set)",
		help: `Deletes a scope's checkpoint: its next poll starts where the provider starts a new scope
(Be-Mo: BEMO_START_DATE, default 30 days back). Records read again are dropped by JetStream's
duplicate window and ClickHouse's table keys. Compare-and-set like checkpoints set: a poller's
concurrent commit makes it exit 4 without deleting anything. Resetting a scope without
checkpoint changes nothing and exits 0.`,
		settings: natsSettings(providerFlag(true),
			config.Setting{Name: "scope", Env: "CHARGECTL_SCOPE", Required: true, Usage: "the scope (account, organization …)"},
			revisionSetting()),
		run: func(ctx context.Context, s *session) (report, error) {
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			return reportOrNil(ResetCheckpoint(ctx, js, s.v.String("provider"), s.v.String("scope"), expectedRevision(s.v)))
		},
	}
}

// reportOrNil keeps a typed nil pointer out of the report interface.
func reportOrNil[R report](r R, err error) (report, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
