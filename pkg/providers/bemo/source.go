package bemo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"
	"time"
	"unicode"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Source is the poll.Source of Be-Mo sessions: one scope per account, one-day windows by start
// day, and a sweep of what Be-Mo created since the previous poll (lastCreated) for the days
// already closed. Its checkpoint {"next_day":"YYYY-MM-DD","swept":"YYYY-MM-DD"} moves past a
// day only once the day is closed and all its pages were emitted. It is safe for concurrent
// use on different scopes.
type Source struct {
	cfg    Config
	client *Client
	now    func() time.Time
}

// sweepMargin is how far before the poll's start its sweep date is taken: the next poll asks
// for what was created on that UTC date or later, so a poll in the first hour of a day (or a
// clock up to an hour ahead of Be-Mo's) asks again for the day before.
const sweepMargin = time.Hour

// NewSource returns the source for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid and name the setting). hc carries timeouts (nil: 60s); now is the clock that
// decides "today" (nil: time.Now).
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

// Scopes returns the configured accounts.
func (s *Source) Scopes(context.Context) ([]string, error) {
	return slices.Clone(s.cfg.Accounts), nil
}

// Fetch emits the sessions of account scope in three steps, each in the order the API returns
// them:
//
//  1. the closed days from the checkpoint's next_day on, one day window each, each followed by
//     a marker (Data nil) whose Next is the checkpoint of the following day;
//  2. the sweep: the sessions Be-Mo created (or corrected) on the checkpoint's swept date or
//     later whose start day is in the retained range (BEMO_START_DATE, else 30 days before
//     today) and before the next_day Fetch started at (step 1 read the later days whole); a
//     session repeated within the sweep is emitted once. A marker then records the new sweep
//     date. A scope without checkpoint has nothing to sweep: step 1 reads its days whole;
//  3. the open days (today and the SettleDays before it), never checkpointed, so the next
//     cycle reads them again.
//
// Record.ID is the sessionId (a hash-based stand-in when a record has none, so it still reaches
// the RAW archive and the normalizer's DLQ). Errors from the API, a bad checkpoint (wraps
// poll.ErrPermanent) or emit stop Fetch and are returned wrapped.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if !slices.Contains(s.cfg.Accounts, scope) {
		return fmt.Errorf("bemo: account %q is not in --%s/BEMO_ACCOUNTS: %w", scope, settingAccounts, poll.ErrPermanent)
	}
	now := s.now()
	today := utcDay(now)
	swept := utcDay(now.Add(-sweepMargin))
	first := s.rangeStart(today)
	pos := position{next: first, swept: swept}
	if from != "" {
		var err error
		if pos, err = parseCheckpoint(from); err != nil {
			return fmt.Errorf("bemo: account %q: %w", scope, err)
		}
	}
	mark := func(cp poll.Checkpoint) error {
		if err := emit(poll.Record{Resource: Resource, Next: cp}); err != nil {
			return fmt.Errorf("bemo: account %q: emit checkpoint %s: %w", scope, cp, err)
		}
		from = cp
		return nil
	}

	lastClosed := today.AddDate(0, 0, -(s.cfg.SettleDays + 1))
	day := pos.next
	for ; !day.After(lastClosed); day = day.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fetchWindow(ctx, scope, SessionsQuery{From: day, To: day}, emit); err != nil {
			return err
		}
		// The sweep of the days before pos.next has not run yet: keep its date.
		if err := mark(position{next: day.AddDate(0, 0, 1), swept: pos.swept}.checkpoint()); err != nil {
			return err
		}
	}

	if before := pos.next.AddDate(0, 0, -1); !before.Before(first) {
		q := SessionsQuery{From: first, To: before, LastCreated: pos.swept}
		if err := s.fetchWindow(ctx, scope, q, emit); err != nil {
			return err
		}
	}
	if cp := (position{next: day, swept: swept}).checkpoint(); cp != from {
		if err := mark(cp); err != nil {
			return err
		}
	}

	for ; !day.After(today); day = day.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fetchWindow(ctx, scope, SessionsQuery{From: day, To: day}, emit); err != nil {
			return err
		}
	}
	return nil
}

// fetchWindow pages through one query until a page is not full. A session the window already
// emitted with the same bytes is skipped: when Be-Mo adds a session ahead of the current offset
// between two page requests, the next page starts with the previous page's last session again.
// A session that comes back with other bytes was corrected between the requests; the later
// page's version is emitted too, and being fetched later it is the one that wins downstream.
func (s *Source) fetchWindow(ctx context.Context, account string, q SessionsQuery, emit func(poll.Record) error) error {
	seed := maphash.MakeSeed()
	emitted := map[string]uint64{} // record id → hash of the bytes emitted
	var prev []string
	for q.Offset = 0; ; q.Offset++ {
		p, err := s.client.Sessions(ctx, account, q)
		if err != nil {
			return err
		}
		ids := make([]string, len(p.Sessions))
		for i, item := range p.Sessions {
			ids[i] = p.recordID(i)
			sum := maphash.Bytes(seed, item)
			if h, ok := emitted[ids[i]]; ok && h == sum {
				continue
			}
			emitted[ids[i]] = sum
			if err := emit(poll.Record{Resource: Resource, ID: ids[i], Data: item}); err != nil {
				return fmt.Errorf("bemo: account %q: emit session %q: %w", account, ids[i], err)
			}
		}
		if !p.Full() {
			return nil
		}
		// A server that ignores offset would return the same full page forever.
		if q.Offset > 0 && slices.Equal(ids, prev) {
			return fmt.Errorf("bemo: account %q: sessions %s page %d repeats page %d (offset ignored?): %w",
				account, q.window(), q.Offset, q.Offset-1, poll.ErrPermanent)
		}
		prev = ids
	}
}

// rangeStart is the first day of the retained range: BEMO_START_DATE, else DefaultStartDays
// before today. A scope without checkpoint starts there, and the sweep looks no further back.
func (s *Source) rangeStart(today time.Time) time.Time {
	if s.cfg.StartDate != "" {
		d, _ := time.Parse(dateLayout, s.cfg.StartDate) // validated by NewSource
		return d
	}
	return today.AddDate(0, 0, -DefaultStartDays)
}

// checkpoint is a scope's checkpoint as stored.
type checkpoint struct {
	NextDay string `json:"next_day"`
	// Swept is the lastCreated of the next sweep; a checkpoint without it (written before the
	// sweep existed, or by CheckpointAt) sweeps from next_day.
	Swept string `json:"swept,omitempty"`
}

// position is a parsed checkpoint: every day before next was read whole, and every session
// created before swept (UTC dates) whose start day is before next was emitted.
type position struct {
	next, swept time.Time
}

func (p position) checkpoint() poll.Checkpoint {
	b, _ := json.Marshal(checkpoint{NextDay: p.next.Format(dateLayout), Swept: p.swept.Format(dateLayout)})
	return poll.Checkpoint(b)
}

// CheckpointAt returns the checkpoint saying every day before day (its UTC date) is complete:
// {"next_day":"YYYY-MM-DD"}. Fetch from it reads day and the days after it whole, and sweeps
// the earlier days of the retained range for sessions created on day or later. Operators set
// it to re-read from a day (backfill).
func CheckpointAt(day time.Time) poll.Checkpoint {
	b, _ := json.Marshal(checkpoint{NextDay: day.UTC().Format(dateLayout)})
	return poll.Checkpoint(b)
}

// ParseCheckpoint returns the day a checkpoint resumes at (UTC midnight): its next_day. It reads
// both forms, {"next_day":"YYYY-MM-DD"} (CheckpointAt, and checkpoints written before the
// lastCreated sweep) and {"next_day":"YYYY-MM-DD","swept":"YYYY-MM-DD"}. A malformed
// checkpoint is an error wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCheckpoint(cp poll.Checkpoint) (time.Time, error) {
	p, err := parseCheckpoint(cp)
	return p.next, err
}

func parseCheckpoint(cp poll.Checkpoint) (position, error) {
	var c checkpoint
	if err := json.Unmarshal([]byte(cp), &c); err != nil {
		return position{}, fmt.Errorf("checkpoint %q is not {\"next_day\":\"YYYY-MM-DD\"}: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	next, err := time.Parse(dateLayout, c.NextDay)
	if err != nil {
		return position{}, fmt.Errorf("checkpoint %q: next_day is not a date (YYYY-MM-DD): %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	if c.Swept == "" {
		return position{next: next, swept: next}, nil
	}
	swept, err := time.Parse(dateLayout, c.Swept)
	if err != nil {
		return position{}, fmt.Errorf("checkpoint %q: swept is not a date (YYYY-MM-DD): %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	return position{next: next, swept: swept}, nil
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// recordID is the session's sessionId when it is usable as a message header value, else a
// stand-in derived from the bytes (stable, so a re-poll gives the same raw id).
func recordID(item json.RawMessage) string {
	id, decided := scanSessionID(item)
	return recordIDOf(item, itemID{id: id, decided: decided})
}

// recordID is the record id of the page's session i, from the sessionId the page's scan read.
func (p Page) recordID(i int) string {
	if len(p.ids) != len(p.Sessions) {
		return recordID(p.Sessions[i])
	}
	return recordIDOf(p.Sessions[i], p.ids[i])
}

// recordIDOf is recordID of item whose sessionId the scanner read as r.
func recordIDOf(item json.RawMessage, r itemID) string {
	id := r.id
	if !r.decided {
		var v struct {
			SessionID string `json:"sessionId"`
		}
		if json.Unmarshal(item, &v) == nil {
			id = v.SessionID
		}
	}
	if validID(id) {
		return id
	}
	sum := sha256.Sum256(item)
	return "no-session-id-" + hex.EncodeToString(sum[:8])
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
