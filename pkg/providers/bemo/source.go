package bemo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Source is the poll.Source of Be-Mo sessions: one scope per account, one-day windows, and a
// checkpoint {"next_day":"YYYY-MM-DD"} that moves past a day only once the day is closed and
// all its pages were emitted. It is safe for concurrent use on different scopes.
type Source struct {
	cfg    Config
	client *Client
	now    func() time.Time
}

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

// Fetch emits the sessions of account scope from the checkpoint's day up to today, day by day,
// in the order the API returns them. After the last page of each closed day it emits a marker
// (Data nil) whose Next is the checkpoint of the following day; open days (today and the
// SettleDays before it) are read but never checkpointed, so the next cycle reads them again.
// Record.ID is the sessionId (a hash-based stand-in when a record has none, so it still reaches
// the RAW archive and the normalizer's DLQ). Errors from the API, a bad checkpoint (wraps
// poll.ErrPermanent) or emit stop Fetch and are returned wrapped.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if !slices.Contains(s.cfg.Accounts, scope) {
		return fmt.Errorf("bemo: account %q is not in --%s/BEMO_ACCOUNTS: %w", scope, settingAccounts, poll.ErrPermanent)
	}
	today := utcDay(s.now())
	day, err := s.firstDay(from, today)
	if err != nil {
		return fmt.Errorf("bemo: account %q: %w", scope, err)
	}
	lastClosed := today.AddDate(0, 0, -(s.cfg.SettleDays + 1))
	for ; !day.After(today); day = day.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fetchDay(ctx, scope, day, emit); err != nil {
			return err
		}
		if day.After(lastClosed) {
			continue
		}
		marker := poll.Record{Resource: Resource, Next: CheckpointAt(day.AddDate(0, 0, 1))}
		if err := emit(marker); err != nil {
			return fmt.Errorf("bemo: account %q: emit checkpoint after %s: %w", scope, day.Format(dateLayout), err)
		}
	}
	return nil
}

// fetchDay pages through one day until a page is not full.
func (s *Source) fetchDay(ctx context.Context, account string, day time.Time, emit func(poll.Record) error) error {
	var prev []string
	for page := 0; ; page++ {
		p, err := s.client.Sessions(ctx, account, SessionsQuery{From: day, To: day, Offset: page})
		if err != nil {
			return err
		}
		ids := make([]string, len(p.Sessions))
		for i, item := range p.Sessions {
			ids[i] = p.recordID(i)
			if err := emit(poll.Record{Resource: Resource, ID: ids[i], Data: item}); err != nil {
				return fmt.Errorf("bemo: account %q: emit session %q: %w", account, ids[i], err)
			}
		}
		if !p.Full() {
			return nil
		}
		// A server that ignores offset would return the same full page forever.
		if page > 0 && slices.Equal(ids, prev) {
			return fmt.Errorf("bemo: account %q: sessions %s page %d repeats page %d (offset ignored?): %w",
				account, day.Format(dateLayout), page, page-1, poll.ErrPermanent)
		}
		prev = ids
	}
}

// firstDay is the checkpoint's next_day, or the configured start for a scope without one.
func (s *Source) firstDay(from poll.Checkpoint, today time.Time) (time.Time, error) {
	if from != "" {
		return ParseCheckpoint(from)
	}
	if s.cfg.StartDate != "" {
		return time.Parse(dateLayout, s.cfg.StartDate) // validated by NewSource
	}
	return today.AddDate(0, 0, -DefaultStartDays), nil
}

type checkpoint struct {
	NextDay string `json:"next_day"`
}

// CheckpointAt returns the checkpoint saying every day before day (its UTC date) is complete:
// {"next_day":"YYYY-MM-DD"}. Operators set it to re-read from a day (backfill).
func CheckpointAt(day time.Time) poll.Checkpoint {
	b, _ := json.Marshal(checkpoint{NextDay: day.UTC().Format(dateLayout)})
	return poll.Checkpoint(b)
}

// ParseCheckpoint returns the day a checkpoint made by CheckpointAt resumes at (UTC midnight).
// A malformed checkpoint is an error wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCheckpoint(cp poll.Checkpoint) (time.Time, error) {
	var c checkpoint
	if err := json.Unmarshal([]byte(cp), &c); err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %q is not {\"next_day\":\"YYYY-MM-DD\"}: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	day, err := time.Parse(dateLayout, c.NextDay)
	if err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %q: next_day is not a date (YYYY-MM-DD): %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	return day, nil
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
