package pip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

// What every mapped session says about itself: the export lists completed sessions only, and
// they are PIP sessions.
const (
	statusCompleted = "completed"
	productCategory = "pip"
)

// Times outside [minTime, maxTime) cannot be stored (ClickHouse DateTime holds 1970 … 2106)
// and are certainly wrong.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Map turns one raw PIP session into one charging_session.v1 event. It is pure (no I/O, no
// clock) and deterministic: the same raw record gives the same event and ce-id. Every failure
// wraps events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	ev, err := mapSession(raw)
	if err != nil {
		return nil, fmt.Errorf("pip: map raw %s (session %q): %w", raw.ID, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapSession(raw events.Raw) (events.Event, error) {
	s, err := decodeSession(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	id, err := idField("sessionId", s.SessionID)
	if err != nil {
		return events.Event{}, err
	}
	if id == "" {
		return events.Event{}, events.Unmappable("sessionId is missing")
	}
	if !validID(id) {
		return events.Event{}, events.Unmappable("sessionId %q is not a usable id", poll.SafeText(id))
	}
	if s.CompletedAt == "" {
		return events.Event{}, events.Unmappable("completedAt is missing")
	}
	completed, err := parseTime(strings.TrimSpace(s.CompletedAt))
	if err != nil {
		return events.Event{}, events.Unmappable("completedAt %q is not an RFC 3339 date-time with an offset", poll.SafeText(s.CompletedAt))
	}
	completed = completed.UTC()
	if completed.Before(minTime) || !completed.Before(maxTime) {
		return events.Event{}, events.Unmappable("completedAt %q is outside 1970 … 2105", poll.SafeText(s.CompletedAt))
	}
	pipID, err := idField("pipId", s.PipID)
	if err != nil {
		return events.Event{}, err
	}
	store, err := idField("storeNumber", s.StoreNumber)
	if err != nil {
		return events.Event{}, err
	}

	cs := events.ChargingSession{
		SchemaVersion: events.SchemaVersion,
		ID:            Name + ":" + id,
		Provider:      Name,
		SourceID:      id,
		Account:       raw.Scope,
		Status:        statusCompleted,
		EndedAt:       completed.Format(time.RFC3339Nano),
		Product:       &events.Product{Category: productCategory},
		LineItems:     []events.LineItem{},
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	if pipID != "" || store != "" {
		// The PIP is the unit the session ran on, so it is the location; the store hosts it.
		cs.Location = &events.Location{ID: pipID, StoreNumber: store}
	}
	return events.NewEvent(raw, cs, completed)
}

// decodeSession decodes exactly one JSON object.
func decodeSession(data []byte) (Session, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return Session{}, events.Unmappable("not a PIP session: not a JSON object")
	}
	var s Session
	if err := events.DecodeRecord(data, &s, "a PIP session", false); err != nil {
		return Session{}, err
	}
	return s, nil
}

// idField reads an id that the API may send as a string or a number, trimmed; "" when absent
// or null.
func idField(field string, raw json.RawMessage) (string, error) {
	s, err := idText(raw)
	if err != nil {
		return "", events.Unmappable("%s %s is %v", field, poll.SafeText(string(raw)), err)
	}
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", events.Unmappable("%s %q holds control characters", field, poll.SafeText(s))
	}
	return s, nil
}
