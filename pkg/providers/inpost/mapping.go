package inpost

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

// maxNameLength is the longest MPK name ShipX accepts, in characters (cost_center.v1 keeps the
// same bound).
const maxNameLength = 255

// Times outside [minTime, maxTime) cannot be stored (ClickHouse DateTime holds 1970 … 2106)
// and are certainly wrong.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Map turns one raw MPK into one cost_center.v1 event. It is pure (no I/O, no clock) and
// deterministic: the same raw record gives the same event and ce-id, and an updated MPK (new
// bytes, so a new raw id) gives a new ce-id for the same canonical id. Every failure wraps
// events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	ev, err := mapMPK(raw)
	if err != nil {
		return nil, fmt.Errorf("inpost: map raw %s (mpk %q): %w", raw.ID, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapMPK(raw events.Raw) (events.Event, error) {
	m, err := decodeMPK(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	id, err := parseID(m.ID)
	if err != nil {
		return events.Event{}, err
	}
	org := strings.TrimSpace(raw.Scope)
	if org == "" {
		return events.Event{}, events.Unmappable("the raw record has no organization (scope)")
	}
	if m.Name == "" {
		return events.Event{}, events.Unmappable("name is missing")
	}
	if n := utf8.RuneCountInString(m.Name); n > maxNameLength {
		return events.Event{}, events.Unmappable("name has %d characters, more than ShipX's %d", n, maxNameLength)
	}
	if m.UpdatedAt == "" {
		return events.Event{}, events.Unmappable("updated_at is missing")
	}
	updated, err := parseTime("updated_at", m.UpdatedAt)
	if err != nil {
		return events.Event{}, err
	}
	sourceID := fmt.Sprint(id)
	cc := events.CostCenter{
		SchemaVersion:  events.SchemaVersion,
		ID:             Name + ":" + sourceID,
		Provider:       Name,
		SourceID:       sourceID,
		OrganizationID: org,
		Name:           m.Name,
		Description:    m.Description,
		UpdatedAt:      formatTime(updated),
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	if m.CreatedAt != "" {
		created, err := parseTime("created_at", m.CreatedAt)
		if err != nil {
			return events.Event{}, err
		}
		if created.After(updated) {
			return events.Event{}, events.Unmappable("created_at %s is after updated_at %s", formatTime(created), formatTime(updated))
		}
		cc.CreatedAt = formatTime(created)
	}

	return events.NewEvent(raw, cc, updated)
}

// decodeMPK decodes exactly one JSON object.
func decodeMPK(data []byte) (MPK, error) {
	var m MPK
	if err := events.DecodeRecord(data, &m, "a ShipX MPK", true); err != nil {
		return MPK{}, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return MPK{}, events.Unmappable("not a ShipX MPK: not a JSON object")
	}
	return m, nil
}

// parseTime reads an RFC 3339 timestamp with its UTC offset (ShipX sends
// "2018-05-15T21:58:49.427+02:00") and returns it in UTC.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, events.Unmappable("%s %q is not an ISO 8601 timestamp with a UTC offset", field, poll.SafeText(s))
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, events.Unmappable("%s %q is outside 1970 … 2105", field, poll.SafeText(s))
	}
	return t, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
