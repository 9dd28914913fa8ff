package mews

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
	"unicode"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Source limits that are not settings.
const (
	// urlMaxAge: Mews says a file URL works for 10 minutes after the response that carried it;
	// a download starting later than this asks exports/getAll for fresh URLs first.
	urlMaxAge = 9 * time.Minute
	// maxRedo bounds how often one Fetch starts the same window over because its export
	// expired or vanished.
	maxRedo = 3
	// readBufferSize is the bufio.Reader size of a download.
	readBufferSize = 64 << 10
)

// Source is the poll.Source of Mews exports: one scope per entity type, each polled through
// exports/add, exports/getAll and a streamed download of every JSON Lines file. Its checkpoint
// (see Position) holds the next window's start and, while an export is under way, the export id
// and how far its files were read, so a restart resumes the same export at the same line. It is
// safe for concurrent use on different scopes.
type Source struct {
	cfg    Config
	client *Client
	now    func() time.Time
}

// NewSource returns the source for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid and name the setting). hc carries timeouts (see NewClient); now is the clock
// that ends windows and ages file URLs (nil: time.Now).
func NewSource(cfg Config, hc *http.Client, now func() time.Time) (*Source, error) {
	cfg.setDefaults()
	client, err := NewClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Source{cfg: cfg, client: client, now: now}, nil
}

// Client returns the source's API client.
func (s *Source) Client() *Client { return s.client }

// Scopes returns the configured entity types.
func (s *Source) Scopes(context.Context) ([]string, error) {
	return slices.Clone(s.cfg.EntityTypes), nil
}

// Fetch exports entity type scope window by window, from the checkpoint's position up to EndLag
// before now, and emits one raw record per line of every export file (Record.ID is the entity's
// Id), in file order. Each record's Next records the line it completes; after each file a marker
// moves the checkpoint to the next file, and after the last file a marker moves it to the next
// window, so a window is complete only once every line of every file is durable. A pending
// export in the checkpoint is resumed, never added again.
//
// An export that Mews reports Failed returns an error wrapping ErrExportFailed (the checkpoint
// first returns to the window's start, so the next poll adds a new export); one that expired
// before its files were read is added again at once. Errors wrapping poll.ErrAuth mean refused
// credentials; a line longer than MaxLineBytes returns an error wrapping ErrLineTooLong and
// poll.ErrPermanent. API and download errors, a bad checkpoint (poll.ErrPermanent) and emit's
// errors stop Fetch and are returned wrapped.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if !slices.Contains(s.cfg.EntityTypes, scope) {
		return fmt.Errorf("mews: entity type %q is not in --%s/MEWS_ENTITY_TYPES: %w", scope, settingEntityTypes, poll.ErrPermanent)
	}
	pos, err := s.startPosition(from)
	if err != nil {
		return fmt.Errorf("mews: %s: %w", scope, err)
	}
	f := &fetch{Source: s, entity: scope, resource: Resource(scope), emit: emit, pos: pos}
	return f.run(ctx)
}

// startPosition is the checkpoint's position, or the configured start for a scope without one.
func (s *Source) startPosition(cp poll.Checkpoint) (Position, error) {
	if cp != "" {
		return ParseCheckpoint(cp)
	}
	if s.cfg.Start != "" {
		t, err := parseStart(s.cfg.Start) // validated by NewSource
		return Position{From: t}, err
	}
	return Position{From: s.now().UTC().AddDate(0, 0, -DefaultStartDays).Truncate(time.Second)}, nil
}

// fetch is one Fetch of one scope.
type fetch struct {
	*Source
	entity, resource string
	emit             func(poll.Record) error
	pos              Position
}

// errStop ends a poll.Retry loop without retrying; the real error is kept by the caller.
var errStop = errors.New("stop")

// exportGone means the export cannot be downloaded (Expired, vanished, its file list changed):
// the window starts over with a new export.
type exportGone struct{ id, why string }

func (e *exportGone) Error() string { return "export " + e.id + " " + e.why }

func (f *fetch) run(ctx context.Context) error {
	redo := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.pos.Export == nil {
			end, ok := f.nextWindowEnd()
			if !ok {
				return nil
			}
			ep, err := f.add(ctx, end)
			if err != nil {
				return err
			}
			f.pos.Export = ep
			// Durable before any download: a restart resumes this export instead of adding one.
			if err := f.mark(); err != nil {
				return err
			}
		}
		err := f.complete(ctx)
		var gone *exportGone
		switch {
		case errors.As(err, &gone):
			redo++
			if redo > maxRedo {
				return fmt.Errorf("mews: %s: window from %s: %d exports in a row could not be downloaded (last: %v)",
					f.entity, formatUTC(f.pos.From), redo, gone)
			}
			f.pos.Export = nil
			if err := f.mark(); err != nil {
				return err
			}
		case errors.Is(err, ErrExportFailed):
			f.pos.Export = nil
			if merr := f.mark(); merr != nil {
				return errors.Join(err, merr)
			}
			return err
		case err != nil:
			return err
		default:
			redo = 0
		}
	}
}

// nextWindowEnd returns where the window starting at pos.From ends: MaxWindow later, but at
// most EndLag before now; false when there is nothing to export yet (the window would be empty,
// or shorter than MinWindow while the scope is caught up).
func (f *fetch) nextWindowEnd() (time.Time, bool) {
	limit := f.now().UTC().Add(-f.cfg.EndLag).Truncate(time.Second)
	if !f.pos.From.Before(limit) {
		return time.Time{}, false
	}
	end := f.pos.From.Add(f.cfg.MaxWindow)
	if end.Before(limit) {
		return end, true
	}
	if limit.Sub(f.pos.From) < f.cfg.MinWindow {
		return time.Time{}, false
	}
	return limit, true
}

// mark emits a checkpoint marker for the current position.
func (f *fetch) mark() error {
	if err := f.emit(poll.Record{Resource: f.resource, Next: f.pos.Checkpoint()}); err != nil {
		return fmt.Errorf("mews: %s: emit checkpoint: %w", f.entity, err)
	}
	return nil
}

// add starts the export of [pos.From, end). When Mews refuses because an export of the entity
// type is already Pending or Processing (ours, added by a poller that stopped before its
// checkpoint was durable, or someone else's), that export is looked up with exports/getAll: if
// it covers pos.From with our scope it is adopted; otherwise the source waits for it to end and
// adds once more.
func (f *fetch) add(ctx context.Context, end time.Time) (*ExportPosition, error) {
	exp, err := f.client.AddExport(ctx, f.entity, f.pos.From, end)
	if err == nil {
		return &ExportPosition{ID: exp.ID, End: end}, nil
	}
	if !errors.Is(err, poll.ErrPermanent) {
		return nil, err
	}
	all, gerr := f.client.Exports(ctx)
	if gerr != nil {
		return nil, fmt.Errorf("%w (then looking for a running export: %w)", err, gerr)
	}
	var blocking *Export
	for i, e := range all {
		if e.EntityType != f.entity || (e.Status != StatusPending && e.Status != StatusProcessing) {
			continue
		}
		if ep, ok := f.adoptable(e); ok {
			return ep, nil
		}
		blocking = &all[i]
	}
	if blocking == nil {
		return nil, err // refused for another reason
	}
	if _, _, werr := f.wait(ctx, blocking.ID); werr != nil && !errors.As(werr, new(*exportGone)) {
		return nil, fmt.Errorf("%w (then waiting for the running export %s: %w)", err, blocking.ID, werr)
	}
	exp, err = f.client.AddExport(ctx, f.entity, f.pos.From, end)
	if err != nil {
		return nil, err
	}
	return &ExportPosition{ID: exp.ID, End: end}, nil
}

// adoptable reports whether a running export can stand in for the window starting at pos.From:
// same scope, an UpdatedUtc filter that starts at or before pos.From and ends after it. Its end
// becomes the window's end.
func (f *fetch) adoptable(e Export) (*ExportPosition, bool) {
	if e.Filters == nil || e.Filters.UpdatedUtc == nil || !sameScope(e.Scope, f.client.scope()) {
		return nil, false
	}
	start, err1 := time.Parse(time.RFC3339Nano, e.Filters.UpdatedUtc.StartUtc)
	end, err2 := time.Parse(time.RFC3339Nano, e.Filters.UpdatedUtc.EndUtc)
	if err1 != nil || err2 != nil || start.After(f.pos.From) || !end.After(f.pos.From) {
		return nil, false
	}
	return &ExportPosition{ID: e.ID, End: end.UTC()}, true
}

func sameScope(a, b *Scope) bool {
	norm := func(s *Scope) (ents, chains []string) {
		if s == nil {
			return nil, nil
		}
		for _, id := range s.EnterpriseIDs {
			ents = append(ents, lowerASCII(id))
		}
		for _, id := range s.ChainIDs {
			chains = append(chains, lowerASCII(id))
		}
		slices.Sort(ents)
		slices.Sort(chains)
		return ents, chains
	}
	ae, ac := norm(a)
	be, bc := norm(b)
	return slices.Equal(ae, be) && slices.Equal(ac, bc)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// complete waits for the export in pos to finish and downloads its files from the position.
func (f *fetch) complete(ctx context.Context) error {
	ep := f.pos.Export
	exp, at, err := f.wait(ctx, ep.ID)
	if err != nil {
		return err
	}
	switch exp.Status {
	case StatusSuccess:
		return f.download(ctx, exp.Files, at)
	case StatusFailed:
		return fmt.Errorf("mews: %s: export %s of UpdatedUtc %s..%s: %w; the next poll adds a new export",
			f.entity, ep.ID, formatUTC(f.pos.From), formatUTC(ep.End), ErrExportFailed)
	default: // Expired
		return &exportGone{id: ep.ID, why: "expired before its files were read"}
	}
}

// wait polls exports/getAll until the export is no longer Pending or Processing (ExportWait
// paces the polls) and returns it with the time the answer arrived (its URLs age from then). An
// export getAll no longer knows is *exportGone.
func (f *fetch) wait(ctx context.Context, id string) (Export, time.Time, error) {
	var (
		exp     Export
		at      time.Time
		callErr error
		polls   int
	)
	err := poll.Retry(ctx, f.cfg.ExportWait, func(ctx context.Context) error {
		polls++
		e, t, err := f.lookup(ctx, id)
		if err != nil {
			callErr = err
			return errStop
		}
		exp, at = e, t
		switch e.Status {
		case StatusPending, StatusProcessing:
			return &poll.TemporaryError{Err: fmt.Errorf("export %s is %s", id, e.Status)}
		case StatusSuccess, StatusFailed, StatusExpired:
			return nil
		}
		callErr = fmt.Errorf("mews: %s: export %s has status %q, which the seed does not document: %w",
			f.entity, id, poll.SafeText(e.Status), poll.ErrPermanent)
		return errStop
	})
	switch {
	case callErr != nil:
		return Export{}, time.Time{}, callErr
	case err != nil && ctx.Err() == nil:
		return Export{}, time.Time{}, fmt.Errorf("mews: %s: export %s still %s after %d status checks; the next poll resumes it: %w",
			f.entity, id, exp.Status, polls, err)
	case err != nil:
		return Export{}, time.Time{}, err
	}
	return exp, at, nil
}

// lookup fetches one export by id; an unknown id is *exportGone.
func (f *fetch) lookup(ctx context.Context, id string) (Export, time.Time, error) {
	exps, err := f.client.Exports(ctx, id)
	if err != nil {
		return Export{}, time.Time{}, err
	}
	at := f.now()
	for _, e := range exps {
		if e.ID == id {
			if e.EntityType != "" && e.EntityType != f.entity {
				return Export{}, time.Time{}, &exportGone{id: id, why: "belongs to entity type " + poll.SafeText(e.EntityType)}
			}
			return e, at, nil
		}
	}
	return Export{}, time.Time{}, &exportGone{id: id, why: "is unknown to exports/getAll"}
}

// download streams every file from the checkpoint's file and line on, then moves the
// checkpoint to the next window.
func (f *fetch) download(ctx context.Context, files []File, at time.Time) error {
	ep := f.pos.Export
	if ep.File > len(files) {
		return &exportGone{id: ep.ID, why: fmt.Sprintf("has %d files, the checkpoint is at file %d", len(files), ep.File)}
	}
	d := &downloader{fetch: f, files: files, at: at}
	for ep.File < len(files) {
		if err := d.file(ctx); err != nil {
			return err
		}
		if ep.File+1 == len(files) {
			break // the window's marker below covers the last file
		}
		next := *ep
		next.File, next.Line, next.Offset = ep.File+1, 0, 0
		f.pos.Export = &next
		ep = f.pos.Export
		if err := f.mark(); err != nil {
			return err
		}
	}
	f.pos = Position{From: ep.End}
	return f.mark()
}

// downloader holds an export's file URLs and when they were issued.
type downloader struct {
	*fetch
	files   []File
	at      time.Time // when exports/getAll returned files
	refresh bool      // a URL was refused: get fresh ones before the next attempt
}

// file streams the checkpoint's current file from its line and offset. Transport failures,
// truncated bodies, 429/5xx and refused (expired) URLs are retried with Backoff, each attempt
// resuming after the last emitted line; a refused URL, or one older than urlMaxAge, is replaced
// by a fresh one from exports/getAll first.
func (d *downloader) file(ctx context.Context) error {
	var stopErr error
	err := poll.Retry(ctx, d.cfg.Backoff, func(ctx context.Context) error {
		if d.refresh || d.now().Sub(d.at) >= urlMaxAge {
			if err := d.renew(ctx); err != nil {
				stopErr = err
				return errStop
			}
		}
		err := d.stream(ctx)
		var stop *stopError
		switch {
		case errors.As(err, &stop):
			stopErr = stop.err
			return errStop
		case errors.Is(err, errURLRefused):
			d.refresh = true
			return &poll.TemporaryError{Err: err}
		}
		return err
	})
	if stopErr != nil {
		return stopErr
	}
	if err != nil {
		ep := d.pos.Export
		return fmt.Errorf("mews: %s: export %s file %d of %d (after line %d): %w", d.entity, ep.ID, ep.File+1, len(d.files), ep.Line, err)
	}
	return nil
}

// renew replaces the file URLs with fresh ones.
func (d *downloader) renew(ctx context.Context) error {
	ep := d.pos.Export
	exp, at, err := d.lookup(ctx, ep.ID)
	if err != nil {
		return err
	}
	switch {
	case exp.Status != StatusSuccess:
		return &exportGone{id: ep.ID, why: "is " + poll.SafeText(exp.Status) + " while its files were being read"}
	case len(exp.Files) != len(d.files):
		return &exportGone{id: ep.ID, why: fmt.Sprintf("now lists %d files instead of %d", len(exp.Files), len(d.files))}
	}
	d.files, d.at, d.refresh = exp.Files, at, false
	return nil
}

// stopError carries an error poll.Retry must not retry (emit's, an overlong line).
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// stream reads one attempt of the current file: it opens the URL at the checkpoint's offset and
// emits each line, advancing the position only after emit accepted the record.
func (d *downloader) stream(ctx context.Context) error {
	ep := d.pos.Export
	f := d.files[ep.File]
	body, err := d.client.OpenFile(ctx, f.URL, ep.Offset)
	if err != nil {
		return err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, readBufferSize)
	tooLongError := func() error {
		return &stopError{fmt.Errorf("mews: %s: export %s file %d of %d: line %d is longer than %d bytes (--%s/MEWS_MAX_LINE_BYTES); raise it and the next poll resumes at that line: %w",
			d.entity, ep.ID, ep.File+1, len(d.files), ep.Line+1, d.cfg.MaxLineBytes, settingMaxLineBytes, errors.Join(ErrLineTooLong, poll.ErrPermanent))}
	}
	var line []byte
	for {
		line = line[:0]
		var (
			readErr error
			tooLong bool
		)
		for {
			frag, err := br.ReadSlice('\n')
			if int64(len(line)+len(frag)) > d.cfg.MaxLineBytes+2 { // + "\r\n"
				tooLong = true
			} else {
				line = append(line, frag...)
			}
			if errors.Is(err, bufio.ErrBufferFull) && !tooLong {
				continue
			}
			readErr = err
			break
		}
		if tooLong {
			return tooLongError()
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return poll.TransportError(ctx, fmt.Errorf("read line %d: %w", ep.Line+1, readErr))
		}
		if len(line) == 0 {
			if f.SizeInBytes > 0 && ep.Offset < f.SizeInBytes {
				return &poll.TemporaryError{Err: fmt.Errorf("body ended at byte %d of %d", ep.Offset, f.SizeInBytes)}
			}
			return nil
		}
		last := readErr != nil // EOF without a final newline
		if last && f.SizeInBytes > 0 && ep.Offset+int64(len(line)) < f.SizeInBytes {
			// A cut in the middle of a line: never emit half an entity.
			return &poll.TemporaryError{Err: fmt.Errorf("body ended at byte %d of %d, inside line %d", ep.Offset+int64(len(line)), f.SizeInBytes, ep.Line+1)}
		}
		data := bytes.TrimRight(line, "\r\n")
		if int64(len(data)) > d.cfg.MaxLineBytes {
			return tooLongError()
		}
		if ep.Offset == 0 {
			data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte-order mark
		}
		next := *ep
		next.Line++
		next.Offset += int64(len(line))
		if len(bytes.TrimSpace(data)) > 0 {
			after := Position{From: d.pos.From, Export: &next}
			rec := poll.Record{Resource: d.resource, ID: recordID(data), Data: bytes.Clone(data), Next: after.Checkpoint()}
			if err := d.emit(rec); err != nil {
				return &stopError{fmt.Errorf("mews: %s: emit %s %q: %w", d.entity, d.resource, rec.ID, err)}
			}
		}
		*ep = next
		if last {
			return nil
		}
	}
}

// Position is a scope's checkpoint: every entity updated before From is durable and, while an
// export is under way, Export says which one and how far its files were read.
type Position struct {
	From   time.Time       `json:"from"`
	Export *ExportPosition `json:"export,omitempty"`
}

// ExportPosition is the progress of one export: files before File are durable, and so are the
// first Line lines (Offset bytes) of File.
type ExportPosition struct {
	ID     string    `json:"id"`
	End    time.Time `json:"end"` // the window's end: From of the next window
	File   int       `json:"file"`
	Line   int64     `json:"line"`
	Offset int64     `json:"offset"`
}

// Checkpoint returns the position as checkpoint text:
// {"from":"…","export":{"id":"…","end":"…","file":1,"line":250,"offset":180224}}.
func (p Position) Checkpoint() poll.Checkpoint {
	p.From = p.From.UTC()
	if p.Export != nil {
		e := *p.Export
		e.End = e.End.UTC()
		p.Export = &e
	}
	b, _ := json.Marshal(p)
	return poll.Checkpoint(b)
}

// CheckpointAt returns the checkpoint of a scope whose next window starts at t; operators set it
// to export again from t (backfill).
func CheckpointAt(t time.Time) poll.Checkpoint {
	return Position{From: t.UTC().Truncate(time.Second)}.Checkpoint()
}

// ParseCheckpoint reads a checkpoint made by Checkpoint or CheckpointAt. A malformed one is an
// error wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCheckpoint(cp poll.Checkpoint) (Position, error) {
	var p Position
	dec := json.NewDecoder(bytes.NewReader([]byte(cp)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Position{}, fmt.Errorf("checkpoint %q is not {\"from\":\"<RFC 3339>\",\"export\":{…}}: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	bad := func(why string) (Position, error) {
		return Position{}, fmt.Errorf("checkpoint %q: %s: %w", poll.SafeText(string(cp)), why, poll.ErrPermanent)
	}
	if p.From.IsZero() {
		return bad("from is missing")
	}
	p.From = p.From.UTC()
	if e := p.Export; e != nil {
		switch {
		case e.ID == "":
			return bad("export.id is missing")
		case !e.End.After(p.From):
			return bad("export.end is not after from")
		case e.File < 0 || e.Line < 0 || e.Offset < 0:
			return bad("export.file, line and offset must be ≥ 0")
		}
		e.End = e.End.UTC()
	}
	return p, nil
}

// recordID is the entity's Id when it is usable as a message header value, else a stand-in
// derived from the bytes (stable, so a re-export gives the same raw id), so the line still
// reaches the RAW archive and, for a Bill, the normalizer's DLQ.
func recordID(line []byte) string {
	var v struct {
		ID string `json:"Id"`
	}
	if json.Unmarshal(line, &v) == nil && validID(v.ID) {
		return v.ID
	}
	sum := sha256.Sum256(line)
	return "no-id-" + hex.EncodeToString(sum[:8])
}

// validID reports whether id can travel as ce-subject: non-empty, at most 256 bytes, no
// control characters, not only spaces.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	blank := true
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
		if !unicode.IsSpace(r) {
			blank = false
		}
	}
	return !blank
}
