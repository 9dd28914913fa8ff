package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
)

// BackfillRequest says what to re-read.
type BackfillRequest struct {
	Provider providers.Provider
	// Source is the provider's poll source, built from its settings like the poller's.
	Source poll.Source
	// Scopes restricts the backfill; empty means every scope of Source.
	Scopes []string
	// From is the first instant to read; the provider starts at the window holding it.
	From time.Time
	// Until is the exclusive end: the backfill stops once the source has emitted every window
	// before it. Zero reads until the source is caught up.
	Until time.Time
	// Now stamps the records' fetched-at; nil means time.Now.
	Now func() time.Time
	// Window bounds the publishes awaiting their PubAck; default 256.
	Window int
}

// BackfillScope is the outcome of one scope.
type BackfillScope struct {
	Scope      string `json:"scope"`
	Checkpoint string `json:"from_checkpoint"` // the checkpoint the backfill read from
	Published  int    `json:"published"`       // records newly stored on RAW
	Duplicates int    `json:"duplicates"`      // records RAW's duplicate window already held
	// ReadUntil is the end of the last window the source completed (everything before it was
	// read); nil when it completed none.
	ReadUntil *time.Time `json:"read_until,omitempty"`
	// StoppedAtTo is true when the backfill stopped because a window reached --to; false when
	// it read until the source was caught up (no --to, or the windows around --to still open).
	StoppedAtTo bool   `json:"stopped_at_to"`
	Error       string `json:"error,omitempty"`
}

// BackfillReport is what backfill prints.
type BackfillReport struct {
	Provider   string          `json:"provider"`
	From       time.Time       `json:"from"`
	Until      *time.Time      `json:"until,omitempty"`
	Scopes     []BackfillScope `json:"scopes"`
	Published  int             `json:"published"`
	Duplicates int             `json:"duplicates"`
}

func (r *BackfillReport) table(w io.Writer) {
	fmt.Fprintln(w, "SCOPE\tFROM CHECKPOINT\tPUBLISHED\tDUPLICATES\tREAD UNTIL\tSTOPPED AT --to\tERROR")
	for _, s := range r.Scopes {
		until := "-"
		if s.ReadUntil != nil {
			until = timeText(*s.ReadUntil)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%t\t%s\n", s.Scope, cell(s.Checkpoint, 40), s.Published, s.Duplicates, until, s.StoppedAtTo, cell(s.Error, 120))
	}
	fmt.Fprintf(w, "\n%d records published to RAW, %d already there (duplicate window); no checkpoint was written\n", r.Published, r.Duplicates)
}

// errReachedTo stops a source's Fetch once the backfill range is read.
var errReachedTo = errors.New("ops: backfill reached --to")

// Backfill re-reads [From, Until) of a provider with its source and publishes every record the
// way the poller does (events.RawMsg: same subject, ce-id and Nats-Msg-Id), so records RAW
// still holds are dropped by the duplicate window and the rest are deduplicated by the
// ClickHouse keys. It writes no checkpoint and takes no lease: the live poller keeps its
// position and may run meanwhile. Scopes are read one after the other; a failing scope does not
// stop the others, and Backfill then returns ErrIncomplete with the report.
func Backfill(ctx context.Context, js jetstream.JetStream, req BackfillRequest) (*BackfillReport, error) {
	b, err := providers.BackfillerOf(req.Provider)
	if err != nil {
		return nil, err
	}
	if req.Now == nil {
		req.Now = time.Now
	}
	if req.Window <= 0 {
		req.Window = 256
	}
	scopes, err := req.Source.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s scopes: %w", req.Provider.Name(), err)
	}
	if len(req.Scopes) > 0 {
		for _, s := range req.Scopes {
			if !slices.Contains(scopes, s) {
				return nil, fmt.Errorf("%w: --scope/CHARGECTL_SCOPE: %s has no scope %q (configured: %s)", config.ErrInvalid, req.Provider.Name(), s, strings.Join(scopes, ", "))
			}
		}
		scopes = req.Scopes
	}
	from, err := b.BackfillCheckpoint(req.From)
	if err != nil {
		return nil, fmt.Errorf("%w: --from/CHARGECTL_FROM: %v", config.ErrInvalid, err)
	}
	rep := &BackfillReport{Provider: req.Provider.Name(), From: req.From.UTC(), Until: timePtr(req.Until), Scopes: []BackfillScope{}}
	var failed int
	for _, scope := range scopes {
		res := backfillScope(ctx, js, req, b, scope, from)
		rep.Published += res.Published
		rep.Duplicates += res.Duplicates
		if res.Error != "" {
			failed++
		}
		rep.Scopes = append(rep.Scopes, res)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if failed > 0 {
		return rep, fmt.Errorf("%w: %d of %d scopes failed", ErrIncomplete, failed, len(scopes))
	}
	return rep, nil
}

func backfillScope(ctx context.Context, js jetstream.JetStream, req BackfillRequest, b providers.Backfiller, scope string, from poll.Checkpoint) BackfillScope {
	res := BackfillScope{Scope: scope, Checkpoint: string(from)}
	pub := &publisher{js: js, window: req.Window}
	provider := req.Provider.Name()
	// reached reports whether the window ending at next covers the rest of the range.
	reached := func(next poll.Checkpoint) bool {
		t, err := b.CheckpointTime(next)
		if err != nil {
			return false
		}
		res.ReadUntil = timePtr(t)
		return !req.Until.IsZero() && !t.Before(req.Until)
	}
	fetchErr := req.Source.Fetch(ctx, scope, from, func(r poll.Record) error {
		if r.Data != nil {
			raw := events.Raw{
				ID: events.RawID(provider, r.Resource, r.ID, r.Data), Provider: provider, Resource: r.Resource,
				Scope: scope, RecordID: r.ID, FetchedAt: req.Now(), Data: r.Data,
			}
			if err := pub.publish(ctx, events.RawMsg(raw)); err != nil {
				return err
			}
		}
		if r.Next != "" && reached(r.Next) {
			return errReachedTo
		}
		return nil
	})
	waitErr := pub.wait(ctx)
	res.Published, res.Duplicates = pub.stored, pub.duplicates
	if errors.Is(fetchErr, errReachedTo) {
		fetchErr, res.StoppedAtTo = nil, true
	}
	if err := errors.Join(fetchErr, waitErr); err != nil {
		res.Error = err.Error()
	}
	return res
}

// publisher publishes asynchronously with at most window publishes awaiting their PubAck, and
// republishes synchronously (same Nats-Msg-Id, so harmless) what an async publish lost.
type publisher struct {
	js                 jetstream.JetStream
	window             int
	pending            []jetstream.PubAckFuture
	stored, duplicates int
}

func (p *publisher) publish(ctx context.Context, msg *nats.Msg) error {
	fut, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		if err := p.wait(ctx); err != nil {
			return err
		}
		return p.publishSync(ctx, msg)
	}
	p.pending = append(p.pending, fut)
	for len(p.pending) >= p.window {
		if err := p.settleHead(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) settleHead(ctx context.Context) error {
	f := p.pending[0]
	p.pending = p.pending[1:]
	select {
	case ack := <-f.Ok():
		p.count(ack)
		return nil
	case <-f.Err():
		return p.publishSync(ctx, f.Msg())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait settles every publish in flight.
func (p *publisher) wait(ctx context.Context) error {
	for len(p.pending) > 0 {
		if err := p.settleHead(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) publishSync(ctx context.Context, msg *nats.Msg) error {
	return poll.Retry(ctx, poll.Backoff{}, func(ctx context.Context) error {
		ack, err := p.js.PublishMsg(ctx, msg)
		if err != nil {
			return &poll.TemporaryError{Err: fmt.Errorf("publish %s: %w", msg.Subject, err)}
		}
		p.count(ack)
		return nil
	})
}

func (p *publisher) count(ack *jetstream.PubAck) {
	if ack.Duplicate {
		p.duplicates++
	} else {
		p.stored++
	}
}

// untilOf turns --to into an exclusive end: a date means its whole day.
func untilOf(v config.Values) (time.Time, error) {
	t, ok, err := parseTime(v, "to")
	if err != nil || !ok {
		return time.Time{}, err
	}
	if _, err := time.Parse(time.DateOnly, v.String("to")); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return t.Add(time.Nanosecond), nil
}

func backfillCommand() command {
	return command{
		name: "backfill", synopsis: "--provider P --from DATE [--to DATE] [--scope S,…] [provider settings] [--json]",
		summary: "re-poll a time range without moving the live checkpoint",
		help: `Re-reads a provider's records from --from to --to (dates are whole UTC days, --to inclusive;
RFC 3339 times also work) with the provider's own poll source and credentials (the poller's
settings: BEMO_ACCESS_TOKEN …), and publishes them exactly as the poller would: same subject,
ce-id and Nats-Msg-Id. Records RAW still holds are dropped by JetStream's duplicate window,
older ones by the ClickHouse table keys, so overlapping the live poller is harmless.

It never writes a checkpoint and takes no lease: the live poller keeps its position and can run
meanwhile. It starts from the checkpoint the provider builds for --from and stops once the
source has completed the window that reaches --to (for sources that checkpoint per record, the
one record that crossed --to is published too; harmless). Windows the source keeps open (Be-Mo: today
and BEMO_SETTLE_DAYS before it) have no end marker, so a --to inside them reads up to now;
"stopped at --to" in the output says which happened. Only providers that can build a
checkpoint from a time support backfill (Be-Mo); others fail with exit 2.

Exit code 1 when a scope failed (the others still ran).`,
		settings: func(env Env) [][]config.Setting {
			own := []config.Setting{
				jsonSetting(), providerFlag(true),
				{Name: "from", Env: "CHARGECTL_FROM", Required: true, Usage: "first day (YYYY-MM-DD, UTC) or time (RFC 3339) to read"},
				{Name: "to", Env: "CHARGECTL_TO", Usage: "last day (inclusive) or time to read; default: until caught up"},
				{Name: "scope", Env: "CHARGECTL_SCOPE", Kind: config.List, Usage: "scopes to backfill (comma-separated); default every configured scope"},
				{Name: "http-timeout", Env: "POLLER_HTTP_TIMEOUT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "timeout of one provider API request"},
			}
			return append([][]config.Setting{bus.ConnSettings(), own}, providerSettings(env)...)
		},
		run: func(ctx context.Context, s *session) (report, error) {
			p, err := s.provider()
			if err != nil {
				return nil, err
			}
			if _, err := providers.BackfillerOf(p); err != nil {
				return nil, s.v.Invalid("provider", "%v", err)
			}
			from, _, err := parseTime(s.v, "from")
			if err != nil {
				return nil, err
			}
			until, err := untilOf(s.v)
			if err != nil {
				return nil, err
			}
			if !until.IsZero() && !from.Before(until) {
				return nil, s.v.Invalid("to", "must not be before --from")
			}
			// The pollers' client: a connection kept per scope, the request metrics left out.
			src, err := p.NewSource(s.v, poll.NewHTTPClient(s.v.Duration("http-timeout"), p.Name(), nil, nil))
			if err != nil {
				return nil, err
			}
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			rep, err := Backfill(ctx, js, BackfillRequest{Provider: p, Source: src, Scopes: s.v.List("scope"), From: from, Until: until, Now: s.env.Now})
			if rep == nil {
				return nil, err
			}
			return rep, err
		},
	}
}
