package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
)

// DeadLetter is one message of the DLQ stream.
type DeadLetter struct {
	Seq             uint64    `json:"seq"`
	Subject         string    `json:"subject"` // dlq.<stage>.<provider>
	Time            time.Time `json:"time"`    // when it was dead-lettered
	Stage           string    `json:"stage"`
	Provider        string    `json:"provider"`
	OriginalSubject string    `json:"original_subject"`
	OriginalSeq     uint64    `json:"original_sequence"`
	Attempts        uint64    `json:"attempts"`
	CEID            string    `json:"ce_id"`
	Error           string    `json:"error"`
	// Headers and Body are filled by dlq show only.
	Headers map[string][]string `json:"headers,omitempty"`
	Body    *string             `json:"body,omitempty"`
}

// DLQFilter selects dead letters; empty fields match everything.
type DLQFilter struct {
	Provider string
	Stage    string
	Seqs     []uint64
}

func (f DLQFilter) subject() string {
	stage, provider := f.Stage, f.Provider
	if stage == "" {
		stage = "*"
	}
	if provider == "" {
		provider = "*"
	}
	return "dlq." + stage + "." + provider
}

func (f DLQFilter) match(d DeadLetter) bool {
	return (f.Provider == "" || d.Provider == f.Provider) && (f.Stage == "" || d.Stage == f.Stage) &&
		(len(f.Seqs) == 0 || slices.Contains(f.Seqs, d.Seq))
}

func deadLetter(seq uint64, subject string, t time.Time, h nats.Header) DeadLetter {
	d := DeadLetter{
		Seq: seq, Subject: subject, Time: t.UTC(), Stage: h.Get(bus.HeaderStage), Provider: bus.ProviderOf(subject),
		OriginalSubject: h.Get(bus.HeaderOriginalSubject), CEID: h.Get(events.HeaderID), Error: h.Get(bus.HeaderError),
	}
	if d.Stage == "" { // a message put there by hand: the subject still says it
		if t := strings.Split(subject, "."); len(t) == 3 {
			d.Stage = t[1]
		}
	}
	d.OriginalSeq, _ = strconv.ParseUint(h.Get(bus.HeaderOriginalSequence), 10, 64)
	d.Attempts, _ = strconv.ParseUint(h.Get(bus.HeaderAttempts), 10, 64)
	return d
}

// scanDLQ calls fn for each DLQ message matching f that was stored before the scan began (so a
// message dead-lettered again during a replay is not replayed twice), in sequence order.
// headersOnly leaves the bodies out.
func scanDLQ(ctx context.Context, js jetstream.JetStream, f DLQFilter, headersOnly bool, fn func(d DeadLetter, m *nats.Msg) error) error {
	st, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	if len(f.Seqs) > 0 {
		seqs := slices.Clone(f.Seqs)
		slices.Sort(seqs)
		for _, seq := range slices.Compact(seqs) {
			rm, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("%w: --seq/CHARGECTL_SEQ: the DLQ holds no message %d", config.ErrInvalid, seq)
			}
			if err != nil {
				return fmt.Errorf("read DLQ message %d: %w", seq, err)
			}
			d := deadLetter(rm.Sequence, rm.Subject, rm.Time, rm.Header)
			if !f.match(d) {
				continue
			}
			if err := fn(d, &nats.Msg{Subject: rm.Subject, Header: rm.Header, Data: rm.Data}); err != nil {
				return err
			}
		}
		return nil
	}
	return scan(ctx, st, f.subject(), headersOnly, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		d := deadLetter(md.Sequence.Stream, m.Subject(), md.Timestamp, m.Headers())
		if !f.match(d) {
			return nil
		}
		return fn(d, &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	})
}

// scan reads the messages of st matching filter that exist when it starts, with an ordered
// consumer, oldest first.
func scan(ctx context.Context, st jetstream.Stream, filter string, headersOnly bool, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return fmt.Errorf("stream %s: %w", st.CachedInfo().Config.Name, err)
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil
	}
	last := info.State.LastSeq
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, HeadersOnly: headersOnly})
	if err != nil {
		return fmt.Errorf("stream %s: %w", info.Config.Name, err)
	}
	defer func() {
		// The server would remove it after 5 idle minutes; an operator's status meanwhile is
		// cleaner without it.
		if ci := c.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = st.DeleteConsumer(dctx, ci.Name)
		}
	}()
	for patient := false; ; {
		// No-wait fetches return what is stored at once; a long-poll fetch would sit out its
		// wait after the last message. A no-wait fetch that finds nothing before the end is
		// retried once with a short wait, in case the server had not caught up.
		var batch jetstream.MessageBatch
		if patient {
			batch, err = c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		} else {
			batch, err = c.FetchNoWait(256)
		}
		if err != nil {
			return fmt.Errorf("stream %s: read: %w", info.Config.Name, err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("stream %s: %w", info.Config.Name, err)
			}
			if md.Sequence.Stream > last {
				done = true
				continue
			}
			if err := fn(m, md); err != nil {
				return err
			}
			if md.NumPending == 0 || md.Sequence.Stream == last {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("stream %s: read: %w", info.Config.Name, err)
		}
		if done {
			return nil
		}
		if n == 0 {
			if patient {
				// Nothing stored is left for the filter (messages expired or were deleted meanwhile).
				return nil
			}
			patient = true
			continue
		}
		patient = false
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// ListDLQ returns the dead letters matching f, oldest first, at most limit (0: all), and how
// many matched in total.
func ListDLQ(ctx context.Context, js jetstream.JetStream, f DLQFilter, limit int) ([]DeadLetter, int, error) {
	out := []DeadLetter{}
	total := 0
	err := scanDLQ(ctx, js, f, true, func(d DeadLetter, _ *nats.Msg) error {
		total++
		if limit == 0 || len(out) < limit {
			out = append(out, d)
		}
		return nil
	})
	return out, total, err
}

// ShowDLQ returns one dead letter with its headers and body.
func ShowDLQ(ctx context.Context, js jetstream.JetStream, seq uint64) (*DeadLetter, error) {
	var found *DeadLetter
	err := scanDLQ(ctx, js, DLQFilter{Seqs: []uint64{seq}}, false, func(d DeadLetter, m *nats.Msg) error {
		d.Headers = map[string][]string(m.Header)
		body := string(m.Data)
		d.Body = &body
		found = &d
		return nil
	})
	return found, err
}

// DLQReport is what dlq list prints.
type DLQReport struct {
	Total       int          `json:"total"` // matching messages; DeadLetters may hold fewer (--limit)
	DeadLetters []DeadLetter `json:"dead_letters"`
}

func (r *DLQReport) table(w io.Writer) {
	fmt.Fprintln(w, "SEQ\tTIME\tSTAGE\tPROVIDER\tORIGINAL SUBJECT\tORIG SEQ\tATTEMPTS\tCE-ID\tERROR")
	for _, d := range r.DeadLetters {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.Seq, timeText(d.Time), d.Stage, d.Provider,
			cell(d.OriginalSubject, 40), d.OriginalSeq, d.Attempts, cell(d.CEID, 32), cell(d.Error, 100))
	}
	switch {
	case r.Total == 0:
		fmt.Fprintln(w, "(the DLQ holds no matching message)")
	case r.Total > len(r.DeadLetters):
		fmt.Fprintf(w, "(%d of %d matching messages shown; raise --limit)\n", len(r.DeadLetters), r.Total)
	}
}

// deadLetterDetail prints one dead letter in full (its JSON is the DeadLetter's).
type deadLetterDetail struct{ *DeadLetter }

func (d deadLetterDetail) table(w io.Writer) {
	fmt.Fprintf(w, "seq\t%d\nsubject\t%s\ntime\t%s\n", d.Seq, d.Subject, timeText(d.Time))
	keys := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "\nHEADER\tVALUE")
	for _, k := range keys {
		for _, v := range d.Headers[k] {
			fmt.Fprintf(w, "%s\t%s\n", k, v)
		}
	}
	fmt.Fprintf(w, "\nbody (%d bytes):\n", len(*d.Body))
	fmt.Fprintln(w, *d.Body)
}

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// DryRun lists what would be replayed and changes nothing.
	DryRun bool
	Now    time.Time
}

// ReplayResult is the outcome for one dead letter.
type ReplayResult struct {
	Seq             uint64 `json:"dlq_seq"`
	OriginalSubject string `json:"original_subject"`
	MsgID           string `json:"msg_id,omitempty"`
	Stream          string `json:"stream,omitempty"`
	StreamSeq       uint64 `json:"stream_seq,omitempty"`
	// Result is replayed, duplicate (an earlier replay's copy was already stored; the dead
	// letter is removed now), would-replay (dry run), skipped or failed.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// ReplayReport is what dlq replay prints.
type ReplayReport struct {
	DryRun   bool           `json:"dry_run"`
	Results  []ReplayResult `json:"results"`
	Replayed int            `json:"replayed"`
	Skipped  int            `json:"skipped"`
	Failed   int            `json:"failed"`
}

func (r *ReplayReport) table(w io.Writer) {
	fmt.Fprintln(w, "DLQ SEQ\tORIGINAL SUBJECT\tRESULT\tSTREAM SEQ\tMSG ID\tREASON")
	for _, x := range r.Results {
		seq := "-"
		if x.StreamSeq > 0 {
			seq = fmt.Sprintf("%s:%d", x.Stream, x.StreamSeq)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", x.Seq, cell(x.OriginalSubject, 40), x.Result, seq, cell(x.MsgID, 60), cell(x.Reason, 120))
	}
	if len(r.Results) == 0 {
		fmt.Fprintln(w, "(the DLQ holds no matching message)")
	}
	fmt.Fprintf(w, "\n%d replayed and removed from the DLQ, %d skipped, %d failed (left in the DLQ)\n", r.Replayed, r.Skipped, r.Failed)
}

// dlqHeaders are the headers a dead letter carries besides the original ones (DESIGN.md §4).
var dlqHeaders = []string{bus.HeaderError, bus.HeaderStage, bus.HeaderOriginalSubject, bus.HeaderOriginalSequence, bus.HeaderAttempts}

// Replay puts the dead letters matching f back on their original subject
// (chargeline-original-subject), so the normalizer or the sink processes them again, and removes
// each from the DLQ only after its republish has a PubAck. The republished message has the
// original body and headers without the chargeline DLQ headers, and Nats-Msg-Id
// "replay-<dlq seq>-<ce-id>": new to the duplicate window (which still holds the original's
// ce-id), yet the same for a second replay of the same dead letter, so a replay interrupted
// between PubAck and delete stores nothing twice. The ce-id is unchanged, so the canonical ids
// and the ClickHouse table keys still deduplicate downstream.
//
// Should a replayed copy fail again, its new dead letter is stored: dead-letter ids carry the
// original stream sequence ("dlq-<stage>-<sequence>-<ce-id>"), and the copy has a new one.
// Replay returns ErrIncomplete (with the report) when a message was skipped or failed.
func Replay(ctx context.Context, js jetstream.JetStream, f DLQFilter, opts ReplayOptions) (*ReplayReport, error) {
	st, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	rep := &ReplayReport{DryRun: opts.DryRun, Results: []ReplayResult{}}
	err = scanDLQ(ctx, js, f, false, func(d DeadLetter, m *nats.Msg) error {
		r := replayOne(ctx, js, st, d, m, opts)
		switch r.Result {
		case "replayed", "duplicate":
			rep.Replayed++
		case "skipped":
			rep.Skipped++
		case "failed":
			rep.Failed++
		}
		rep.Results = append(rep.Results, r)
		return ctx.Err()
	})
	if err != nil {
		return rep, err
	}
	if rep.Skipped+rep.Failed > 0 {
		return rep, fmt.Errorf("%w: %d dead letters skipped, %d failed; they are still in the DLQ", ErrIncomplete, rep.Skipped, rep.Failed)
	}
	return rep, nil
}

func replayOne(ctx context.Context, js jetstream.JetStream, dlq jetstream.Stream, d DeadLetter, m *nats.Msg, opts ReplayOptions) ReplayResult {
	r := ReplayResult{Seq: d.Seq, OriginalSubject: d.OriginalSubject}
	switch {
	case strings.HasPrefix(d.OriginalSubject, "raw."):
		r.Stream = bus.StreamRaw
	case strings.HasPrefix(d.OriginalSubject, "events."):
		r.Stream = bus.StreamEvents
	default:
		r.Result, r.Reason = "skipped", fmt.Sprintf("%s %q is not a RAW or EVENTS subject", bus.HeaderOriginalSubject, d.OriginalSubject)
		return r
	}
	r.MsgID = "replay-" + strconv.FormatUint(d.Seq, 10)
	if d.CEID != "" {
		r.MsgID += "-" + d.CEID
	}
	if opts.DryRun {
		r.Result = "would-replay"
		return r
	}
	h := nats.Header{}
	for k, v := range m.Header {
		if slices.Contains(dlqHeaders, k) || k == nats.MsgIdHdr || strings.HasPrefix(k, "Nats-Expected") {
			continue
		}
		h[k] = slices.Clone(v)
	}
	h[nats.MsgIdHdr] = []string{r.MsgID}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: d.OriginalSubject, Header: h, Data: m.Data}, jetstream.WithExpectStream(r.Stream))
	if err != nil {
		r.Result, r.Reason = "failed", "republish not acknowledged, kept in the DLQ: "+err.Error()
		return r
	}
	r.StreamSeq = ack.Sequence
	if err := dlq.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		// Republished but still in the DLQ: a second replay stores nothing new (same Nats-Msg-Id
		// inside the window) and removes it.
		r.Result, r.Reason = "failed", "republished, but could not be removed from the DLQ (replay it again): "+err.Error()
		return r
	}
	r.Result = "replayed"
	if ack.Duplicate {
		r.Result, r.Reason = "duplicate", "an earlier replay of this dead letter was already stored"
	}
	return r
}

func dlqFilterSettings() []config.Setting {
	return []config.Setting{
		providerFlag(false),
		{Name: "stage", Env: "CHARGECTL_STAGE", Usage: "stage that dead-lettered the messages: normalize or sink"},
		{Name: "seq", Env: "CHARGECTL_SEQ", Kind: config.List, Usage: "DLQ stream sequences (comma-separated)"},
	}
}

func dlqFilter(v config.Values) (DLQFilter, error) {
	f := DLQFilter{Provider: v.String("provider"), Stage: v.String("stage")}
	if f.Stage != "" && f.Stage != "normalize" && f.Stage != "sink" {
		return f, v.Invalid("stage", "must be normalize or sink, got %q", f.Stage)
	}
	if strings.ContainsAny(f.Provider, ".*> ") {
		return f, v.Invalid("provider", "must be a provider name, got %q", f.Provider)
	}
	for _, s := range v.List("seq") {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return f, v.Invalid("seq", "must list stream sequences (positive integers), got %q", s)
		}
		f.Seqs = append(f.Seqs, n)
	}
	return f, nil
}

func dlqListCommand() command {
	return command{
		name: "dlq list", synopsis: "[--provider P] [--stage normalize|sink] [--seq N,…] [--limit N] [--json]",
		summary: "list dead letters: sequence, time, stage, provider, original subject, error",
		help: `Lists the DLQ stream's messages, oldest first: sequence (for dlq show and replay), when it
was dead-lettered, the stage (normalize: the record could not be mapped or kept failing; sink:
ClickHouse refused the row), provider, original subject and sequence, attempts, ce-id and the
reason. Reads headers only.`,
		settings: natsSettings(append(dlqFilterSettings(),
			config.Setting{Name: "limit", Env: "CHARGECTL_LIMIT", Kind: config.Int, Default: "1000", Usage: "list at most this many (0: all); the total is still counted"})...),
		run: func(ctx context.Context, s *session) (report, error) {
			f, err := dlqFilter(s.v)
			if err != nil {
				return nil, err
			}
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			list, total, err := ListDLQ(ctx, js, f, s.v.Int("limit"))
			if err != nil {
				return nil, err
			}
			return &DLQReport{Total: total, DeadLetters: list}, nil
		},
	}
}

func dlqShowCommand() command {
	return command{
		name: "dlq show", synopsis: "--seq N [--json]",
		summary:  "show one dead letter: every header and the body",
		help:     `Prints one DLQ message: its subject and time, every header (the original ones and the chargeline-* DLQ ones) and the body exactly as stored.`,
		settings: natsSettings(config.Setting{Name: "seq", Env: "CHARGECTL_SEQ", Kind: config.Int, Required: true, Min: 1, Usage: "the DLQ stream sequence (from dlq list)"}),
		run: func(ctx context.Context, s *session) (report, error) {
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			d, err := ShowDLQ(ctx, js, uint64(s.v.Int("seq")))
			if err != nil {
				return nil, err
			}
			return deadLetterDetail{d}, nil
		},
	}
}

func dlqReplayCommand() command {
	return command{
		name: "dlq replay", synopsis: "(--provider P | --stage S | --seq N,… | --all) [--dry-run] [--json]",
		summary: "put dead letters back on their original subject; removed from the DLQ after the PubAck",
		help: `Republishes the selected dead letters on their original subject (header
chargeline-original-subject), so the normalizer or the sink processes them again, and deletes
each from the DLQ only after the republish is acknowledged (PubAck). The copy keeps the
original body and headers (ce-id included) minus the chargeline-* DLQ headers; its
Nats-Msg-Id is "replay-<dlq seq>-<ce-id>", which the duplicate window has not seen (it holds
the original's ce-id), while canonical ids and ClickHouse table keys, derived from the ce-id
and the record, still drop whatever already arrived.

Select with --provider, --stage, --seq (combined: all must match), or --all. --dry-run lists
what would be replayed.

A copy that fails again is dead-lettered again (dead-letter ids carry the original stream
sequence, and the copy has a new one). A replayed raw record gets a new RAW sequence, which is
the version of its canonical row: replay only records that are still missing, not old versions
of records that were updated since.

Exit code 1 when a message was skipped or failed (it stays in the DLQ).`,
		settings: natsSettings(append(dlqFilterSettings(),
			config.Setting{Name: "all", Env: "CHARGECTL_ALL", Kind: config.Bool, Usage: "replay every dead letter"},
			config.Setting{Name: "dry-run", Env: "CHARGECTL_DRY_RUN", Kind: config.Bool, Usage: "list what would be replayed, change nothing"})...),
		run: func(ctx context.Context, s *session) (report, error) {
			f, err := dlqFilter(s.v)
			if err != nil {
				return nil, err
			}
			if f.Provider == "" && f.Stage == "" && len(f.Seqs) == 0 && !s.v.Bool("all") {
				return nil, s.v.Invalid("all", "is required to replay every dead letter; or select with --provider, --stage or --seq")
			}
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			rep, err := Replay(ctx, js, f, ReplayOptions{DryRun: s.v.Bool("dry-run"), Now: s.env.Now()})
			if rep == nil {
				return nil, err
			}
			return rep, err
		},
	}
}
