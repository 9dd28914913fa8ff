package pip

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
	"unicode"

	"github.com/chargeline/chargeline/pkg/poll"
)

// checkpointEvery bounds the cost of per-record checkpoints: a record carries a checkpoint
// when at most this many ids are pending in it, or when it is a multiple of this many records
// into the page. Inside a group of thousands of sessions sharing one completion time, every
// checkpoint lists the group's ids, so writing one per record would be quadratic.
const checkpointEvery = 100

// Source is the poll.Source of the PIP invoicing export: one scope (the export, "posten"), a
// completedAfter cursor, and the ids already emitted past it, so a page boundary inside a
// group of sessions sharing one completion time neither loses nor repeats a session. It is
// safe for concurrent use.
type Source struct {
	cfg    Config
	client *Client
}

// NewSource returns the source for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid and name the setting). hc carries timeouts (nil: 60s).
func NewSource(cfg Config, hc *http.Client) (*Source, error) {
	cfg.setDefaults()
	client, err := NewClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, client: client}, nil
}

// Scopes returns the one scope: the configured export (PIP_EXPORT, default "posten").
func (s *Source) Scopes(context.Context) ([]string, error) { return []string{s.cfg.Export}, nil }

// Fetch emits the export's sessions completed after the checkpoint, oldest first, until a page
// holds fewer than PageSize sessions. Every session is emitted once: one already emitted (its
// id is in the checkpoint, or it completed at or before the cursor) is skipped when the API
// sends it again. Records carry the checkpoint valid once they are durable (see
// checkpointEvery); a marker follows a page whose end moves the checkpoint further. Record.ID
// is the sessionId (a hash-based stand-in when a record has none). A full page of sessions
// that all completed at one time is followed by a gap record (poll.GapTie, see the package
// doc) and the poll goes on after that time. Errors from the API, a bad checkpoint
// (poll.ErrPermanent), a page out of completedAt order or an API that cannot page past a group
// of sessions (poll.ErrPermanent, with the request), or from emit stop Fetch.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if scope != s.cfg.Export {
		return fmt.Errorf("pip: scope %q is not the export --%s/PIP_EXPORT (%q): %w", scope, settingExport, s.cfg.Export, poll.ErrPermanent)
	}
	pos, err := s.start(from)
	if err != nil {
		return fmt.Errorf("pip: export %q: %w", scope, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := s.client.Invoicing(ctx, pos.after.text)
		if err != nil {
			return err
		}
		next, more, err := s.consume(pos, page, emit)
		if err != nil {
			return fmt.Errorf("pip: export %q: %w", scope, err)
		}
		if !more {
			return nil
		}
		pos = next
	}
}

func (s *Source) start(from poll.Checkpoint) (position, error) {
	if from != "" {
		return parseCheckpoint(from)
	}
	pos := position{seen: map[string]stamp{}}
	if s.cfg.StartAfter != "" {
		st, err := parseStamp(s.cfg.StartAfter) // validated by NewSource
		if err != nil {
			return position{}, err
		}
		pos.after = st
	}
	return pos, nil
}

// pageRecord is one session of a page with what the source reads of it.
type pageRecord struct {
	id   string
	at   stamp
	ok   bool // completedAt parsed
	data json.RawMessage
}

// consume emits the new sessions of one page and returns the position after it, and whether
// the page was full (so another page may follow).
//
// The page is a prefix of the sessions completed after pos.after, in completion order. So once
// the page moves on from a group of sessions sharing completion time T to a later one, every
// session completed at or before T has been received: the cursor may move to T. The last
// group may be cut by the page limit (the API has no second sort key to resume inside it),
// so a full page moves the cursor only to the group before its last, and the ids of the last
// group stay in the checkpoint; the next request re-reads that group and skips those ids.
// A full page whose sessions past the cursor all share one time T (a tie of at least a page)
// cannot be paged through: the API returns at most a page after any completedAfter. If the API
// went above its limit (more than PageSize sessions) and says T is exported through, the group
// is whole and the cursor moves to T. Otherwise the sessions read are emitted, then a gap
// record (poll.GapTie at T, how many of the tie were read) whose checkpoint is after T, and
// the poll goes on there: reported, never looped on nor skipped silently. Every other cursor
// is capped by exportedThrough, which the API documents as the next completedAfter: the
// source never claims more than the API does.
func (s *Source) consume(pos position, page Page, emit func(poll.Record) error) (position, bool, error) {
	recs, err := readPage(page)
	if err != nil {
		return position{}, false, err
	}
	var through *stamp
	if page.ExportedThrough != "" {
		st, err := parseStamp(page.ExportedThrough) // checked by decodePage
		if err != nil {
			return position{}, false, fmt.Errorf("%s: exportedThrough: %w: %w", page.Request, err, poll.ErrPermanent)
		}
		through = &st
	}
	capped := func(st stamp) stamp {
		if through != nil && !through.after(st) {
			st = *through // the API's own text when both say the same instant
		}
		if st.after(pos.after) {
			return st
		}
		return pos.after
	}

	cur := position{after: pos.after, seen: maps.Clone(pos.seen)}
	if cur.seen == nil {
		cur.seen = map[string]stamp{}
	}
	last := pos.encode()
	group, prevGroup := pos.after, pos.after // completion time of the current and of the previous group
	groupLen := 0                            // sessions of the page in the current group
	fresh := 0
	for i, r := range recs {
		at := r.at
		if !r.ok {
			at = group // no usable completedAt: it stays where the API put it
		}
		if r.ok && at.after(group) {
			prevGroup, group, groupLen = group, at, 0
			if c := capped(prevGroup); c.after(cur.after) {
				cur.advance(c)
			}
		}
		groupLen++
		if r.ok && !at.after(pos.after) {
			continue // covered by the cursor: an API reading completedAfter inclusively sends it again
		}
		if _, dup := cur.seen[r.id]; dup {
			continue // emitted from an earlier page that ended inside this group
		}
		cur.seen[r.id] = at
		fresh++
		rec := poll.Record{Resource: Resource, ID: r.id, Data: r.data}
		if len(cur.seen) <= checkpointEvery || fresh%checkpointEvery == 0 || i == len(recs)-1 {
			rec.Next = cur.encode()
			last = rec.Next
		}
		if err := emit(rec); err != nil {
			return position{}, false, fmt.Errorf("emit session %q: %w", r.id, err)
		}
	}

	full := len(recs) >= s.cfg.PageSize
	// oneGroup: every session of the full page completed at group, so no completedAfter the
	// API accepts can return the sessions of group beyond this page. (A page that also repeats
	// sessions at the cursor, from an API reading completedAfter inclusively, is not one: it
	// ends below with the error for an API that cannot page past a time.)
	oneGroup := full && group.after(pos.after) && groupLen == len(recs)
	var proven stamp // every session completed at or before it has been received
	switch {
	case len(recs) == 0:
		proven = pos.after
	case !full:
		proven = group // the page holds everything the export has after pos.after
	case prevGroup.after(pos.after):
		proven = prevGroup // the last group may be cut: read it again
	case oneGroup && len(recs) > s.cfg.PageSize && through != nil && !group.after(*through):
		proven = group // the API went above its limit to return the group whole, and says so
	case oneGroup:
		// The tie is cut by the page limit for good: report what was read as a gap, then go
		// on after it, uncapped (the API may well say it is not exported through the tie).
		if err := s.tieGap(pos, &cur, group, len(recs), groupLen, through, emit); err != nil {
			return position{}, false, err
		}
		return cur, true, nil
	default:
		proven = pos.after
	}
	if c := capped(proven); c.after(cur.after) {
		cur.advance(c)
	}
	if cp := cur.encode(); cp != last {
		if err := emit(poll.Record{Resource: Resource, Next: cp}); err != nil {
			return position{}, false, fmt.Errorf("emit checkpoint: %w", err)
		}
	}
	if !full {
		return cur, false, nil
	}
	if fresh == 0 && !cur.after.after(pos.after) {
		said := "no exportedThrough"
		if through != nil {
			said = "exportedThrough " + through.text
		}
		return position{}, false, fmt.Errorf("%s returned a full page of %d sessions, all exported before, and %s does not move the cursor past completedAt %s: "+
			"the API cannot page past this completion time (more sessions share it than a page holds?); please report it with this request: %w",
			page.Request, len(recs), said, group.text, poll.ErrPermanent)
	}
	return cur, true, nil
}

// tieGap emits the gap record of a tie that fills a whole page (at least PageSize sessions
// completed at tie): the API returns at most a page after a completedAfter and has no other
// parameter, so the tie's sessions beyond the page can never be asked for. Read counts the
// tie's sessions emitted (this page's and those an earlier page of this tie delivered); the
// gap carries the checkpoint after tie, which cur moves to.
func (s *Source) tieGap(pos position, cur *position, tie stamp, n, tied int, through *stamp, emit func(poll.Record) error) error {
	read := 0
	for _, at := range cur.seen {
		if !at.after(tie) && !tie.after(at) {
			read++
		}
	}
	said := "no exportedThrough"
	if through != nil {
		said = "exportedThrough " + through.text
	}
	after := pos.after.text
	if after == "" {
		after = "(from the beginning)"
	}
	cur.advance(tie)
	g := &poll.Gap{
		Kind: poll.GapTie, Resource: Resource, At: tie.t, Read: read,
		Detail: fmt.Sprintf("completedAfter %s returned a full page (%d sessions, --%s/PIP_PAGE_SIZE %d) whose %d sessions after it all completed at %s, with %s: "+
			"at least that many share the instant and the API cannot be asked for the rest; %d of them read, the poll goes on after %s",
			after, n, settingPageSize, s.cfg.PageSize, tied, tie.text, said, read, tie.text),
	}
	if err := emit(poll.Record{Resource: Resource, Gap: g, Next: cur.encode()}); err != nil {
		return fmt.Errorf("emit gap at %s: %w", tie.text, err)
	}
	return nil
}

// readPage reads each session's id and completion time and checks the documented order.
func readPage(page Page) ([]pageRecord, error) {
	recs := make([]pageRecord, len(page.Sessions))
	var prev *pageRecord
	for i, item := range page.Sessions {
		r := pageRecord{data: item}
		var v struct {
			SessionID   json.RawMessage `json:"sessionId"`
			CompletedAt string          `json:"completedAt"`
		}
		_ = json.Unmarshal(item, &v) // a record that is not an object keeps a stand-in id
		r.id = recordID(v.SessionID, item)
		if st, err := parseStamp(v.CompletedAt); err == nil {
			r.at, r.ok = st, true
		}
		if r.ok && prev != nil && prev.at.after(r.at) {
			return nil, fmt.Errorf("%s returned session %q (completedAt %s) after %q (completedAt %s), against the documented oldest-first order; "+
				"the source cannot page safely: please report it with this request: %w",
				page.Request, r.id, r.at.text, prev.id, prev.at.text, poll.ErrPermanent)
		}
		recs[i] = r
		if r.ok {
			prev = &recs[i]
		}
	}
	return recs, nil
}

// stamp is a completion time as the API wrote it, with its value for comparisons. The source
// only ever sends back texts the API produced (or the operator configured), so a server that
// compares completedAfter as text or at its own precision sees exactly its own values. The
// zero stamp is "the beginning", before every time.
type stamp struct {
	text string
	t    time.Time
}

func (a stamp) zero() bool { return a.text == "" }

// after reports whether a is later than b.
func (a stamp) after(b stamp) bool {
	switch {
	case a.zero():
		return false
	case b.zero():
		return true
	}
	return a.t.After(b.t)
}

// parseStamp reads an ISO 8601 date-time: RFC 3339 with an offset, or without one (read as
// UTC: only the order of such values matters to the source, and the API writes them alike).
func parseStamp(s string) (stamp, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return stamp{}, fmt.Errorf("%q is not an ISO 8601 date-time like 2023-01-01T12:00:00Z", poll.SafeText(s))
		}
	}
	return stamp{text: s, t: t}, nil
}

// parseTime reads an RFC 3339 date-time that carries its offset.
func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// position is where the source stands in the export: every session completed at or before
// after has been emitted, and seen holds the sessions emitted that completed later (a group a
// page boundary cut through), by id.
type position struct {
	after stamp
	seen  map[string]stamp
}

// advance moves the cursor to c and forgets the ids it now covers.
func (p *position) advance(c stamp) {
	p.after = c
	for id, at := range p.seen {
		if !at.after(c) {
			delete(p.seen, id)
		}
	}
}

type checkpointJSON struct {
	CompletedAfter string            `json:"completed_after,omitempty"`
	Emitted        []checkpointGroup `json:"emitted,omitempty"`
}

type checkpointGroup struct {
	CompletedAt string   `json:"completed_at"`
	IDs         []string `json:"ids"`
}

// encode writes the position deterministically:
// {"completed_after":"<time>","emitted":[{"completed_at":"<time>","ids":["…"]}]}: the
// completedAfter of the next request, and the ids already emitted that completed later,
// grouped by completion time. {} is the beginning.
func (p position) encode() poll.Checkpoint {
	c := checkpointJSON{CompletedAfter: p.after.text}
	byTime := map[string]*checkpointGroup{}
	for id, at := range p.seen {
		g := byTime[at.text]
		if g == nil {
			g = &checkpointGroup{CompletedAt: at.text}
			byTime[at.text] = g
		}
		g.IDs = append(g.IDs, id)
	}
	for _, g := range byTime {
		slices.Sort(g.IDs)
		c.Emitted = append(c.Emitted, *g)
	}
	slices.SortFunc(c.Emitted, func(a, b checkpointGroup) int { return cmp.Compare(a.CompletedAt, b.CompletedAt) })
	b, _ := json.Marshal(c)
	return poll.Checkpoint(b)
}

// CheckpointAt returns the checkpoint that resumes the export after completedAfter (an ISO
// 8601 date-time as the API writes it): operators set it to re-read from a time (backfill).
func CheckpointAt(completedAfter string) (poll.Checkpoint, error) {
	st, err := parseStamp(completedAfter)
	if err != nil {
		return "", err
	}
	return position{after: st}.encode(), nil
}

// ParseCheckpoint returns the completedAfter a checkpoint resumes at ("" = the beginning) and
// the ids it lists as already emitted past it, sorted. A malformed checkpoint is an error
// wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCheckpoint(cp poll.Checkpoint) (completedAfter string, emitted []string, err error) {
	p, err := parseCheckpoint(cp)
	if err != nil {
		return "", nil, err
	}
	return p.after.text, slices.Sorted(maps.Keys(p.seen)), nil
}

func parseCheckpoint(cp poll.Checkpoint) (position, error) {
	bad := func(why string) (position, error) {
		return position{}, fmt.Errorf("checkpoint %q %s: %w", poll.SafeText(string(cp)), why, poll.ErrPermanent)
	}
	var c checkpointJSON
	if err := json.Unmarshal([]byte(cp), &c); err != nil {
		return bad(`is not {"completed_after":"<date-time>","emitted":[…]}`)
	}
	p := position{seen: map[string]stamp{}}
	if c.CompletedAfter != "" {
		st, err := parseStamp(c.CompletedAfter)
		if err != nil {
			return bad("has a completed_after that is not a date-time")
		}
		p.after = st
	}
	for _, g := range c.Emitted {
		var at stamp
		if g.CompletedAt != "" {
			st, err := parseStamp(g.CompletedAt)
			if err != nil {
				return bad("has an emitted completed_at that is not a date-time")
			}
			at = st
		}
		for _, id := range g.IDs {
			if id == "" {
				return bad("has an empty emitted id")
			}
			p.seen[id] = at
		}
	}
	return p, nil
}

// recordID is the session's sessionId (a string, or a number's digits) when it is usable as a
// message header value, else a stand-in derived from the bytes (stable, so a re-poll gives the
// same raw id).
func recordID(sessionID json.RawMessage, item json.RawMessage) string {
	if id, err := idText(sessionID); err == nil && validID(id) {
		return id
	}
	sum := sha256.Sum256(item)
	return "no-session-id-" + hex.EncodeToString(sum[:8])
}

// idText reads an id that may be a JSON string or number; "" when absent or null.
func idText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", errors.New("neither a string nor a number")
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
