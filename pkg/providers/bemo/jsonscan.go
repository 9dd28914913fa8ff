package bemo

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// A page is decoded on the poller's hot path: encoding/json would validate it, decode the
// envelope (scanning every session again to cut it out as a json.RawMessage and copying it),
// then validate and decode each session once more to read its sessionId. The scanner below does
// the envelope and each session in one validating pass each, without copies.
//
// It accepts a subset of what encoding/json accepts, never more (FuzzScanValue holds it to
// json.Valid), and its callers fall back to encoding/json whenever it declines: invalid JSON (so
// the error is encoding/json's, as before), escaped or non-ASCII keys (encoding/json unescapes
// and case-folds them), duplicate envelope fields, and anything else where the exact outcome is
// encoding/json's to say.

// maxScanDepth bounds the scanner's recursion; deeper JSON is left to encoding/json, whose own
// limit is 10000.
const maxScanDepth = 1000

// memberFunc is called for each member of an object with the key as it appears between the
// quotes and the index where its value starts; it scans the value and returns the index just
// after it, or -1 when the value is not valid JSON.
type memberFunc func(key []byte, i, depth int) int

// scanValue returns the index just after the JSON value starting at b[i] (not at whitespace),
// or -1 when no valid value starts there. What follows the value is the caller's to check.
func scanValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanObject(b, i, depth+1, nil)
	case c == '[':
		return scanArray(b, i, depth+1, nil)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || isDigit(c):
		return scanNumber(b, i)
	}
	return -1
}

// scanObject scans the object at b[i] ('{'), calling member for each member; nil scans the
// values only.
func scanObject(b []byte, i, depth int, member memberFunc) int {
	if depth > maxScanDepth {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		end := scanString(b, i)
		if end < 0 {
			return -1
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipSpace(b, i+1)
		if member != nil {
			i = member(key, i, depth)
		} else {
			i = scanValue(b, i, depth)
		}
		if i < 0 {
			return -1
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// scanArray scans the array at b[i] ('['); elem scans each element like scanValue (nil:
// scanValue itself).
func scanArray(b []byte, i, depth int, elem func(i, depth int) int) int {
	if depth > maxScanDepth {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		var end int
		if elem != nil {
			end = elem(i, depth)
		} else {
			end = scanValue(b, i, depth)
		}
		if end < 0 {
			return -1
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// scanString scans the string at b[i] ('"'): escapes must be JSON's, control characters are
// refused, other bytes pass unchecked (as in encoding/json, which does not validate UTF-8).
func scanString(b []byte, i int) int {
	i++
	for i < len(b) {
		// Eight bytes at a time up to the first that is not plain string content.
		for i+8 <= len(b) {
			if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 5
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

// specialBytes marks (high bit set) the bytes of x that end plain string content: '"', '\\' and
// control characters. Bits above the lowest may be false positives (borrows), so only the
// lowest is meaningful.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	return ((quote-ones) & ^quote | (backslash-ones) & ^backslash | (x-0x20*ones) & ^x) & highs
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		i = skipDigits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		i = skipDigits(b, i+1)
	}
	return i
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// skipSpace skips JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// plain reports whether the contents of a JSON string are the string itself: no escapes and
// only ASCII (encoding/json unescapes, replaces invalid UTF-8 and case-folds non-ASCII keys).
func plain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Bits of the envelope fields scanEnvelope has seen.
const (
	seenStatus = 1 << iota
	seenErrors
	seenData
	seenTrace
	seenVersion
)

// envelopeFields are Envelope's JSON names, which encoding/json matches case-insensitively.
var envelopeFields = [...]string{"status", "errors", "data", "trace", "version"}

// itemID is what scanItem read of a data item's sessionId.
type itemID struct {
	id      string // "" when there is none or encoding/json would fail
	decided bool   // false: encoding/json must tell
}

// scanEnvelope is decodeEnvelope's fast path: it validates body and decodes it into an
// Envelope whose Data items are subslices of body (capacity capped, so an append cannot
// overwrite the next item), and reads each item's sessionId on the way (ids[i] is Data[i]'s).
// ok is false when it declines (see above); decodeEnvelope then uses encoding/json.
func scanEnvelope(body []byte) (env Envelope, ids []itemID, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return Envelope{}, nil, false
	}
	ok = true
	var seen int
	// field decodes a small envelope field with encoding/json: it is once per page.
	field := func(bit int, dst any, v []byte) {
		if seen&bit != 0 || json.Unmarshal(v, dst) != nil {
			ok = false
		}
		seen |= bit
	}
	end := scanObject(body, i, 1, func(key []byte, i, depth int) int {
		if string(key) == "data" && i < len(body) && body[i] == '[' {
			if seen&seenData != 0 {
				ok = false
			}
			seen |= seenData
			env.Data, ids = []json.RawMessage{}, nil // [] is an empty list, not null
			return scanArray(body, i, depth+1, func(i, depth int) int {
				end, id := scanItem(body, i, depth)
				if end >= 0 {
					env.Data = append(env.Data, body[i:end:end])
					ids = append(ids, id)
				}
				return end
			})
		}
		end := scanValue(body, i, depth)
		if end < 0 || !ok {
			return end
		}
		v := body[i:end]
		switch string(key) {
		case "status":
			field(seenStatus, &env.Status, v)
		case "errors":
			field(seenErrors, &env.Errors, v)
		case "data": // not an array: null, or a type error encoding/json reports
			field(seenData, &env.Data, v)
		case "trace":
			field(seenTrace, &env.Trace, v)
		case "version":
			field(seenVersion, &env.Version, v)
		default:
			if !plain(key) {
				ok = false
				break
			}
			for _, f := range envelopeFields {
				if strings.EqualFold(string(key), f) {
					ok = false
				}
			}
		}
		return end
	})
	if end < 0 || skipSpace(body, end) != len(body) || !ok {
		return Envelope{}, nil, false
	}
	if len(env.Data) != len(ids) { // data was null: no items, no ids
		ids = nil
	}
	return env, ids, true
}

// scanSessionID reads what json.Unmarshal(item, &struct{SessionID string `json:"sessionId"`})
// would: id is the sessionId ("" when there is none or the unmarshal would fail). decided is
// false when the scanner declines and encoding/json must tell.
func scanSessionID(item []byte) (id string, decided bool) {
	i := skipSpace(item, 0)
	end, r := scanItem(item, i, 0)
	if end < 0 || skipSpace(item, end) != len(item) {
		return "", false
	}
	return r.id, r.decided
}

// scanItem scans the value at b[i] like scanValue and reads its sessionId as scanSessionID does.
func scanItem(b []byte, i, depth int) (end int, _ itemID) {
	if i >= len(b) || b[i] != '{' {
		// null sets nothing; anything else is a type error.
		return scanValue(b, i, depth), itemID{decided: true}
	}
	var (
		raw     []byte
		typeErr bool
		decline bool
	)
	end = scanObject(b, i, depth+1, func(key []byte, i, depth int) int {
		end := scanValue(b, i, depth)
		if end < 0 || len(key) < len("sessionId") {
			return end // escapes and non-ASCII letters only make a key longer
		}
		if !plain(key) {
			decline = true
			return end
		}
		if len(key) != len("sessionId") || !strings.EqualFold(string(key), "sessionId") {
			return end
		}
		// Several matching keys: the last wins, as in encoding/json.
		switch b[i] {
		case '"':
			raw = b[i+1 : end-1]
			if !plain(raw) {
				decline = true
			}
		case 'n': // null leaves the field as it is
		default:
			typeErr = true
		}
		return end
	})
	switch {
	case end < 0 || decline:
		return end, itemID{}
	case typeErr:
		return end, itemID{decided: true}
	}
	return end, itemID{id: string(raw), decided: true}
}
