package inpost

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Source is the poll.Source of ShipX MPKs: one scope per organization, and a checkpoint (a
// Cursor) made of the updated_at of the last MPK emitted and the ids already emitted at exactly
// that updated_at. It is safe for concurrent use on different scopes.
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

// Scopes returns the configured organizations.
func (s *Source) Scopes(context.Context) ([]string, error) {
	return slices.Clone(s.cfg.Organizations), nil
}

// Fetch emits the MPKs of organization scope that changed after the checkpoint, oldest
// updated_at first (ties by id), each carrying the checkpoint that covers it. It reads the list
// sorted by updated_at descending and stops at the first page that reaches an MPK older than
// the checkpoint, so a cycle costs one request plus one per page of changes. An MPK updated
// again comes back with its new updated_at (a new raw id, since its bytes changed). Record.ID is
// the MPK id (a hash-based stand-in for an item without a usable id or updated_at, which is
// emitted without a checkpoint so it still reaches the RAW archive and the normalizer's DLQ).
// Errors from the API (an unknown organization wraps poll.ErrPermanent and names
// INPOST_ORGANIZATIONS), a malformed checkpoint or a list not sorted as asked (poll.ErrPermanent),
// or from emit stop Fetch and are returned wrapped; nothing is emitted before the whole change
// set has been read.
func (s *Source) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	if !slices.Contains(s.cfg.Organizations, scope) {
		return fmt.Errorf("inpost: organization %q is not in --%s/INPOST_ORGANIZATIONS: %w", scope, settingOrganizations, poll.ErrPermanent)
	}
	cur, err := ParseCursor(from)
	if err != nil {
		return fmt.Errorf("inpost: organization %q: %w", scope, err)
	}
	changed, malformed, err := s.changes(ctx, scope, cur)
	if err != nil {
		return err
	}
	for _, it := range malformed {
		if err := emit(poll.Record{Resource: Resource, ID: it.recordID, Data: it.data}); err != nil {
			return fmt.Errorf("inpost: organization %q: emit mpk %s: %w", scope, it.recordID, err)
		}
	}
	for _, it := range changed {
		cur = cur.advance(it.updated, it.id)
		if err := emit(poll.Record{Resource: Resource, ID: it.recordID, Data: it.data, Next: cur.Checkpoint()}); err != nil {
			return fmt.Errorf("inpost: organization %q: emit mpk %s: %w", scope, it.recordID, err)
		}
	}
	return nil
}

// item is one list entry with what the source orders it by.
type item struct {
	data     json.RawMessage
	recordID string
	id       int64
	updated  time.Time
}

// changes reads the organization's MPKs newest first until it passes the cursor, and returns
// the versions the cursor does not cover, sorted by (updated_at, id) ascending, plus the items
// it cannot place (no usable id or updated_at).
//
// Why newest first: the list is paged by offset. An MPK created or updated while the pages are
// read moves to the front, so the items not read yet can only move towards later positions: a
// page may repeat items of the page before (kept once here, the newest version winning), but
// an item present all along cannot jump over the window being read, and the reading stops only
// at a page that holds an item older than the cursor, which is behind every uncovered item.
// Reading oldest first, the same update would shift every later item one place towards the
// front and the one at the next page boundary would be skipped for good. A version that
// appears during the read and is not read is newer than every version read (its updated_at is
// later), so the checkpoint does not cover it and the next cycle gets it.
func (s *Source) changes(ctx context.Context, org string, cur Cursor) (changed, malformed []item, err error) {
	index := map[int64]int{} // MPK id → its position in changed
	seenBad := map[string]bool{}
	var prevIDs []string
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		p, err := s.client.MPKs(ctx, org, ListQuery{Page: n, SortBy: SortByUpdatedAt, SortOrder: SortDesc})
		if err != nil {
			return nil, nil, err
		}
		older := false
		var prev time.Time // updated_at of the page's previous placeable item
		ids := make([]string, 0, len(p.Items))
		for _, data := range p.Items {
			it, ok := parseItem(data)
			ids = append(ids, it.recordID)
			if !ok {
				if !seenBad[it.recordID] {
					seenBad[it.recordID] = true
					malformed = append(malformed, it)
				}
				continue
			}
			// One page is one snapshot of the list, so it must be in order; across pages MPKs
			// changed meanwhile may legitimately break the order.
			if !prev.IsZero() && it.updated.After(prev) {
				return nil, nil, fmt.Errorf("inpost: organization %q: mpks page %d: mpk %s (updated_at %s) follows one updated at %s: the API did not sort by updated_at descending: %w",
					org, n, it.recordID, formatTime(it.updated), formatTime(prev), poll.ErrPermanent)
			}
			prev = it.updated
			if cur.Covers(it.updated, it.id) {
				older = older || it.updated.Before(cur.UpdatedAt)
				continue
			}
			if i, dup := index[it.id]; dup {
				// Shifted onto this page by MPKs created or updated meanwhile, or moved to
				// the front by its own update: keep the newest version.
				if it.updated.After(changed[i].updated) {
					changed[i] = it
				}
				continue
			}
			index[it.id] = len(changed)
			changed = append(changed, it)
		}
		if older || !p.More() {
			break
		}
		// A full page equal to the one before. An API that answers a page past the last with
		// the last again says so by naming the page it served: the list has ended. Without a
		// count, one that ignores page would return the same page forever: an error, not an
		// end. A count of exactly the page's items says no more: it is this page's count, or a
		// total that page 1 already covered, and the page echoed is the one asked for, so an API
		// repeating its last page cannot be told from one ignoring page — reading on would never
		// end, stopping could drop every page after the first unseen: an error too. A count
		// larger than the page is a total (More stops at it), and MPKs changed between the two
		// requests can shift exactly a page: read on.
		if n > 1 && slices.Equal(ids, prevIDs) {
			if p.Served >= 0 && p.Served != n {
				break
			}
			if p.Count < 0 || p.Count == len(p.Items) {
				return nil, nil, fmt.Errorf("inpost: organization %q: mpks page %d repeats page %d, naming page %d, count %d (page ignored?): %w",
					org, n, n-1, p.Served, p.Count, poll.ErrPermanent)
			}
		}
		prevIDs = ids
	}
	slices.SortFunc(changed, func(a, b item) int {
		return cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id))
	})
	return changed, malformed, nil
}

// parseItem reads an item's id and updated_at; ok is false when either is unusable, and then
// recordID is a stand-in derived from the bytes (stable, so a re-poll gives the same raw id).
func parseItem(data json.RawMessage) (it item, ok bool) {
	it.data = data
	var head struct {
		ID        json.Number `json:"id"`
		UpdatedAt string      `json:"updated_at"`
	}
	if json.Unmarshal(data, &head) == nil {
		id, idErr := parseID(head.ID)
		updated, timeErr := parseTime("updated_at", head.UpdatedAt)
		if idErr == nil && timeErr == nil {
			it.id, it.updated, it.recordID = id, updated, strconv.FormatInt(id, 10)
			return it, true
		}
	}
	sum := sha256.Sum256(data)
	it.recordID = "malformed-" + hex.EncodeToString(sum[:8])
	return it, false
}

// parseID reads an MPK id: a positive integer written without sign, fraction or exponent.
func parseID(n json.Number) (int64, error) {
	s := string(n)
	if s == "" {
		return 0, events.Unmappable("id is missing")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strings.HasPrefix(s, "+") || (len(s) > 1 && s[0] == '0') {
		return 0, events.Unmappable("id %q is not a positive integer", poll.SafeText(s))
	}
	return id, nil
}

// Cursor is a position in an organization's MPKs: every version with an updated_at before
// UpdatedAt was emitted, and of those updated exactly at UpdatedAt, the ones in IDs. It is what
// lets a page boundary, a cancelled poll or a checkpoint fall inside a group of MPKs sharing
// one updated_at without losing or repeating one. The zero Cursor covers nothing.
type Cursor struct {
	UpdatedAt time.Time
	IDs       []int64 // ascending
}

// cursorJSON is the checkpoint's text: {"updated_at":"<RFC 3339 UTC>","ids":[…]}.
type cursorJSON struct {
	UpdatedAt string  `json:"updated_at"`
	IDs       []int64 `json:"ids"`
}

// Covers reports whether the version of MPK id updated at updated was already emitted.
func (c Cursor) Covers(updated time.Time, id int64) bool {
	if c.UpdatedAt.IsZero() {
		return false
	}
	switch updated.Compare(c.UpdatedAt) {
	case -1:
		return true
	case 0:
		_, found := slices.BinarySearch(c.IDs, id)
		return found
	}
	return false
}

// advance returns the cursor once the version (updated, id) is emitted too. Versions come in
// ascending (updated, id) order, never before the cursor.
func (c Cursor) advance(updated time.Time, id int64) Cursor {
	if !updated.Equal(c.UpdatedAt) {
		return Cursor{UpdatedAt: updated, IDs: []int64{id}}
	}
	ids := slices.Clone(c.IDs)
	if i, found := slices.BinarySearch(ids, id); !found {
		ids = slices.Insert(ids, i, id)
	}
	return Cursor{UpdatedAt: c.UpdatedAt, IDs: ids}
}

// Checkpoint encodes the cursor: {"updated_at":"2018-05-17T08:35:59.644Z","ids":[1]}; the zero
// Cursor is "" (start from the beginning). Operators may write one to re-read from a time.
func (c Cursor) Checkpoint() poll.Checkpoint {
	if c.UpdatedAt.IsZero() {
		return ""
	}
	ids := c.IDs
	if ids == nil {
		ids = []int64{}
	}
	b, _ := json.Marshal(cursorJSON{UpdatedAt: formatTime(c.UpdatedAt), IDs: ids})
	return poll.Checkpoint(b)
}

// ParseCursor decodes a checkpoint made by Cursor.Checkpoint ("" is the zero Cursor). A
// malformed checkpoint is an error wrapping poll.ErrPermanent: it needs an operator's reset.
func ParseCursor(cp poll.Checkpoint) (Cursor, error) {
	if cp == "" {
		return Cursor{}, nil
	}
	var c cursorJSON
	if err := json.Unmarshal([]byte(cp), &c); err != nil {
		return Cursor{}, fmt.Errorf(`checkpoint %q is not {"updated_at":"<RFC 3339>","ids":[…]}: %w`, poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	t, err := time.Parse(time.RFC3339Nano, c.UpdatedAt)
	if err != nil || t.IsZero() {
		return Cursor{}, fmt.Errorf("checkpoint %q: updated_at is not an RFC 3339 time: %w", poll.SafeText(string(cp)), poll.ErrPermanent)
	}
	ids := slices.Clone(c.IDs)
	slices.Sort(ids)
	return Cursor{UpdatedAt: t.UTC(), IDs: slices.Compact(ids)}, nil
}
