package plugsurfing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Source is the poll.Source of Plugsurfing bills: one scope per configured user (User.Scope),
// date intervals of at most Window, and a checkpoint {"next_start":"<RFC 3339 UTC>"} per user
// that moves past an interval once all its bills were emitted and it lies before the re-read
// stretch. It is safe for concurrent use on different scopes.
type Source struct {
	cfg    Config
	client *Client
	users  map[string]User // by Scope
	scopes []string        // in the configured order
	now    func() time.Time
}

// NewSource returns the source for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid and name the setting). hc carries timeouts (nil: 60s); now is the clock that
// decides where intervals end (nil: time.Now).
func NewSource(cfg Config, hc *http.Client, now func() time.Time) (*Source, error) {
	cfg.setDefaults()
	client, err := NewClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	s := &Source{cfg: cfg, client: client, users: map[string]User{}, now: now}
	for _, u := range cfg.Users {
		s.users[u.Scope()] = u
		s.scopes = append(s.scopes, u.Scope())
	}
	return s, nil
}

// String names the source by its users' scopes; printing a Source never shows a token.
func (s *Source) String() string { return "plugsurfing.Source" + fmt.Sprint(s.scopes) }

// GoString is String, for %#v.
func (s *Source) GoString() string { return s.String() }

// Scopes returns the configured users' scopes ("username:some_user", "rfid:04AB12…",
// "token:sha256-…"), in the configured order.
func (s *Source) Scopes(context.Context) ([]string, error) {
	return append([]string(nil), s.scopes...), nil
}

// Fetch emits the bills of the user scope from the checkpoint up to the interval end (now −
// Settle), one user-get-bills call per interval of at most Window, in the order the API returns
// them. After each interval that ends before the re-read stretch (the Reread before the
// interval end) it emits a marker (Data nil) whose Next is the checkpoint of the following
// interval; the stretch itself is read every cycle but never checkpointed. A bill repeated by
// the API within one Fetch (an interval end treated as inclusive) is emitted once. Record.ID is
// BillID of the bill URL. Refused credentials (poll.ErrAuth), API errors, a bad checkpoint
// (poll.ErrPermanent) or an emit error stop Fetch and are returned wrapped.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	u, ok := s.users[scope]
	if !ok {
		return fmt.Errorf("plugsurfing: user %q is not in --%s/PLUGSURFING_USERS: %w", poll.SafeText(scope), settingUsers, poll.ErrPermanent)
	}
	now := s.now()
	end := now.Add(-s.cfg.Settle).Truncate(time.Second)
	closed := end.Add(-s.cfg.Reread)
	start, err := s.firstStart(from, now)
	if err != nil {
		return fmt.Errorf("plugsurfing: user %s: %w", scope, err)
	}
	seen := map[string]bool{}
	for ws := start; ws.Before(end); {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Windows stop at closed, so the last checkpoint lands exactly on it.
		limit := end
		if ws.Before(closed) {
			limit = closed
		}
		we := ws.Add(s.cfg.Window)
		if we.After(limit) {
			we = limit
		}
		bills, err := s.client.Bills(ctx, u, ws, we)
		if err != nil {
			return err
		}
		for _, b := range bills {
			id := recordID(b)
			if seen[id] {
				continue
			}
			seen[id] = true
			if err := emit(poll.Record{Resource: Resource, ID: id, Data: b}); err != nil {
				return fmt.Errorf("plugsurfing: user %s: emit bill %s: %w", scope, id, err)
			}
		}
		if !we.After(closed) {
			if err := emit(poll.Record{Resource: Resource, Next: CheckpointAt(we)}); err != nil {
				return fmt.Errorf("plugsurfing: user %s: emit checkpoint at %s: %w", scope, we.UTC().Format(time.RFC3339), err)
			}
		}
		ws = we
	}
	return nil
}

// firstStart is the checkpoint's next_start, or the configured start for a user without one.
func (s *Source) firstStart(from poll.Checkpoint, now time.Time) (time.Time, error) {
	if from != "" {
		return ParseCheckpoint(from)
	}
	return parseStart(s.cfg.Start, now) // validated by NewSource
}

type checkpoint struct {
	NextStart string `json:"next_start"`
}

// CheckpointAt returns the checkpoint saying every bill dated before t has been read, so the
// next date-interval starts at t: {"next_start":"2026-11-20T10:00:00Z"} (UTC, seconds).
// Operators set it to re-read from an instant (backfill).
func CheckpointAt(t time.Time) poll.Checkpoint {
	b, _ := json.Marshal(checkpoint{NextStart: t.UTC().Truncate(time.Second).Format(time.RFC3339)})
	return poll.Checkpoint(b)
}

// ParseCheckpoint returns the instant a checkpoint made by CheckpointAt resumes at. A malformed
// checkpoint is an error wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCheckpoint(cp poll.Checkpoint) (time.Time, error) {
	var c checkpoint
	if err := json.Unmarshal([]byte(cp), &c); err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %q is not {\"next_start\":\"<RFC 3339 time>\"}: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	t, err := time.Parse(time.RFC3339, c.NextStart)
	if err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %q: next_start is not an RFC 3339 time: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	return t.UTC(), nil
}

// billIDPrefix starts every bill id; a future derivation would get another prefix.
const billIDPrefix = "bill-"

// BillID is the deterministic id of the bill at url (the seed gives bills no id): "bill-" and
// the first 32 hex digits (128 bits) of the SHA-256 of the URL exactly as sent, surrounding
// white space removed. It is safe as a NATS header value and the same for every user and
// every poll that sees the bill. Record.ID and the invoice's source_id are this id.
func BillID(url string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(url)))
	return billIDPrefix + hex.EncodeToString(sum[:16])
}

// recordID is BillID of the bill's URL, or, for a record without a usable "bill" string, a
// stand-in derived from its bytes (stable, so a re-poll gives the same raw id; the mapping
// dead-letters such a record).
func recordID(item json.RawMessage) string {
	var v struct {
		Bill any `json:"bill"`
	}
	if json.Unmarshal(item, &v) == nil {
		if url, ok := v.Bill.(string); ok && strings.TrimSpace(url) != "" {
			return BillID(url)
		}
	}
	sum := sha256.Sum256(item)
	return "no-bill-url-" + hex.EncodeToString(sum[:16])
}
