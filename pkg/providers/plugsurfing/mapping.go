package plugsurfing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
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

// decodeBill decodes exactly one JSON object: its bill URL (the key "bill", matched without
// regard to case as encoding/json does) and its session list (sessionList).
func decodeBill(data []byte) (Bill, error) {
	var fields map[string]json.RawMessage
	if err := events.DecodeRecord(data, &fields, "a Plugsurfing bill", false); err != nil {
		return Bill{}, err
	}
	if fields == nil {
		return Bill{}, events.Unmappable("not a Plugsurfing bill: null")
	}
	var b Bill
	var head struct {
		Bill *string `json:"bill"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Bill{}, events.Unmappable("bill is not a string (the invoice URL)")
	}
	if head.Bill != nil {
		b.Bill = *head.Bill
	}
	ids, err := sessionList(fields)
	if err != nil {
		return Bill{}, err
	}
	b.ExternalSessionIDs = ids
	return b, nil
}

// sessionKey is the seed's external-session-ids with case, hyphens and underscores removed:
// external_session_ids and externalSessionIds are the same list under another convention.
const sessionKey = "externalsessionids"

func normalKey(k string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(k))
}

// sessionList reads the bill's session list. The seed names it external-session-ids and shows
// strings; it is also read under another spelling of that name, and its ids may be JSON
// integers (written as digits, exactly as sent). A bill with no list, or a null or empty one,
// covers no session, unless the bill has another key about sessions: then the list is most
// likely there, and mapping the bill without its sessions would lose them silently, so it is
// an error naming the key. Two spellings holding different lists, an id that is neither a
// string nor an integer, and a list that is not an array are errors too.
func sessionList(fields map[string]json.RawMessage) ([]string, error) {
	var found []string // keys spelling the seed's name
	for k := range fields {
		if normalKey(k) == sessionKey {
			found = append(found, k)
		}
	}
	slices.Sort(found)
	if len(found) == 0 {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if strings.Contains(strings.ToLower(k), "session") {
				return nil, events.Unmappable("no external-session-ids, but %q: the bill's sessions are not where the seed puts them", poll.SafeText(k))
			}
		}
		return []string{}, nil
	}
	var ids []string
	for i, k := range found {
		list, err := sessionRefs(k, fields[k])
		if err != nil {
			return nil, err
		}
		if i > 0 && !slices.Equal(list, ids) {
			return nil, events.Unmappable("%q and %q hold different session lists", poll.SafeText(found[0]), poll.SafeText(k))
		}
		ids = list
	}
	return ids, nil
}

// sessionRefs decodes one session list: an array of strings and non-negative JSON integers
// (their digits as sent), or null.
func sessionRefs(key string, raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err != nil {
		return nil, events.Unmappable("%s is not a list of session ids", poll.SafeText(key))
	}
	ids := make([]string, 0, len(items))
	for i, it := range items {
		switch v := it.(type) {
		case string:
			ids = append(ids, v)
		case json.Number:
			if !isDigits(string(v)) {
				return nil, events.Unmappable("%s[%d] %s is not a session id (a string or an integer)", poll.SafeText(key), i, poll.SafeText(string(v)))
			}
			ids = append(ids, string(v))
		default:
			kind := map[bool]string{true: "null", false: "an array or object or boolean"}[it == nil]
			return nil, events.Unmappable("%s[%d] is %s, not a session id (a string or an integer)", poll.SafeText(key), i, kind)
		}
	}
	return ids, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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
