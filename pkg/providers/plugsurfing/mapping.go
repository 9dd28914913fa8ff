package plugsurfing

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Map turns one raw Plugsurfing bill into one invoice.v1 event. It is pure (no I/O, no clock)
// and deterministic: the same raw record gives the same event and ce-id. Every failure wraps
// events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	ev, err := mapBill(raw)
	if err != nil {
		return nil, fmt.Errorf("plugsurfing: map raw %s (bill %q): %w", raw.ID, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapBill(raw events.Raw) (events.Event, error) {
	b, err := decodeBill(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	doc := strings.TrimSpace(b.Bill)
	if doc == "" {
		return events.Event{}, events.Unmappable("bill (the invoice URL, the only thing that identifies a bill) is missing")
	}
	if !absoluteURL(doc) {
		return events.Event{}, events.Unmappable("bill %q is not an absolute http(s) URL", poll.SafeText(doc))
	}
	sessions, err := SessionIDs(b.ExternalSessionIDs)
	if err != nil {
		return events.Event{}, err
	}
	// A bill carries no date: the event time is when chargeline fetched it.
	if raw.FetchedAt.IsZero() {
		return events.Event{}, events.Unmappable("the raw record has no fetched-at time, the only time a bill has")
	}
	sourceID := BillID(doc)
	inv := events.Invoice{
		SchemaVersion: events.SchemaVersion,
		ID:            Name + ":" + sourceID,
		Provider:      Name,
		SourceID:      sourceID,
		Account:       raw.Scope,
		LineItems:     []events.LineItem{},
		SessionIDs:    sessions,
		DocumentURL:   doc,
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	return events.NewEvent(raw, inv, raw.FetchedAt.UTC())
}

// decodeBill decodes exactly one JSON object.
func decodeBill(data []byte) (Bill, error) {
	var b Bill
	if err := events.DecodeRecord(data, &b, "a Plugsurfing bill", false); err != nil {
		return Bill{}, err
	}
	return b, nil
}

// SessionIDs turns a bill's external-session-ids into the canonical ids of the charging
// sessions it covers: "plugsurfing:<id>", in the bill's order, duplicates dropped, never nil.
// The ids are Plugsurfing's references; a session ingested from another provider is matched by
// its source_id (see the package doc). A blank id, or one with control characters or longer
// than 256 bytes, is an error wrapping events.ErrUnmappable.
func SessionIDs(external []string) ([]string, error) {
	out := make([]string, 0, len(external))
	seen := map[string]bool{}
	for i, id := range external {
		id = strings.TrimSpace(id)
		if !validSessionID(id) {
			return nil, events.Unmappable("external-session-ids[%d] %q is not a usable session id", i, poll.SafeText(id))
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, Name+":"+id)
	}
	return out, nil
}

func validSessionID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// absoluteURL: an http(s) URL with a host, which the schema's "uri" format accepts (an IPv6
// host must be bracketed and valid).
func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if h := u.Hostname(); strings.Contains(h, ":") {
		return strings.Contains(u.Host, "[") && net.ParseIP(h) != nil
	}
	return true
}
