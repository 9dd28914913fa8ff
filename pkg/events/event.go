package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	fastjson "github.com/segmentio/encoding/json"
)

// ErrUnmappable is wrapped by a provider's Map when a raw record cannot become a canonical
// event (broken JSON, a missing id, a malformed amount). The normalizer dead-letters such
// records instead of retrying them.
var ErrUnmappable = errors.New("events: record cannot be mapped")

// Canonical event types: the <type> in events.<type>.v1.<provider> and io.chargeline.<type>.v1.
const (
	TypeChargingSession = "charging_session"
	TypeInvoice         = "invoice"
	TypeCostCenter      = "cost_center"
	TypeInvoiceLine     = "invoice_line"
)

// SchemaVersion is the schema_version every v1 event carries.
const SchemaVersion = "1"

// Event is one canonical event ready to publish: Data is its JSON body.
type Event struct {
	ID       string // ce-id: EventID(provider, type, source id, source version)
	Type     string // TypeChargingSession, TypeInvoice, TypeCostCenter, TypeInvoiceLine
	Provider string
	Source   string // ce-source, "/providers/<provider>/<scope>"
	Subject  string // ce-subject: the canonical id "<provider>:<source id>"
	Time     time.Time
	Data     []byte
}

// NATSSubject is the subject the event is published on.
func (e Event) NATSSubject() string { return "events." + e.Type + ".v1." + e.Provider }

// CEType is the event's CloudEvents type.
func (e Event) CEType() string { return "io.chargeline." + e.Type + ".v1" }

// DataSchema is the JSON Schema the event's data conforms to.
func (e Event) DataSchema() string {
	return "https://chargeline.io/schemas/events/" + e.Type + ".v1.schema.json"
}

// Lineage ties a canonical event back to the raw message it came from.
type Lineage struct {
	RawID       string `json:"raw_id"`
	RawStream   string `json:"raw_stream"`
	RawSequence uint64 `json:"raw_sequence"`
	RawSubject  string `json:"raw_subject"`
}

// Data is the data of a canonical event: ChargingSession, Invoice, CostCenter or InvoiceLine.
type Data interface {
	// Check reports the first rule of the type's JSON Schema the data breaks.
	Check() error
	eventType() string
	key() (id, provider, sourceID string)
}

func (cs ChargingSession) eventType() string             { return TypeChargingSession }
func (cs ChargingSession) key() (string, string, string) { return cs.ID, cs.Provider, cs.SourceID }
func (inv Invoice) eventType() string                    { return TypeInvoice }
func (inv Invoice) key() (string, string, string)        { return inv.ID, inv.Provider, inv.SourceID }
func (cc CostCenter) eventType() string                  { return TypeCostCenter }
func (cc CostCenter) key() (string, string, string)      { return cc.ID, cc.Provider, cc.SourceID }
func (il InvoiceLine) eventType() string                 { return TypeInvoiceLine }
func (il InvoiceLine) key() (string, string, string)     { return il.ID, il.Provider, il.SourceID }

// NewEvent is how a mapping makes the event of data, mapped from raw, at t (the time the
// provider says it happened): it checks data against its schema's rules, encodes it, and
// derives the envelope — a deterministic ce-id from the source id and the raw record's id,
// ce-source from raw's scope, ce-subject = the canonical id. An error wraps ErrUnmappable: no
// retry makes such data valid.
func NewEvent(raw Raw, data Data, t time.Time) (Event, error) {
	typ := data.eventType()
	if err := data.Check(); err != nil {
		return Event{}, fmt.Errorf("%w: %s.v1 breaks its schema: %w", ErrUnmappable, typ, err)
	}
	b, err := encodeData(data)
	if err != nil {
		return Event{}, fmt.Errorf("%w: encode %s.v1: %w", ErrUnmappable, typ, err)
	}
	id, provider, sourceID := data.key()
	return Event{
		ID:       EventID(provider, typ, sourceID, raw.ID),
		Type:     typ,
		Provider: provider,
		Source:   raw.Source(),
		Subject:  id,
		Time:     t,
		Data:     b,
	}, nil
}

// Unmappable returns an error wrapping ErrUnmappable with the reason a mapping gives.
func Unmappable(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnmappable}, a...)...)
}

// DecodeRecord decodes data, which must hold exactly one JSON value, into v; with useNumber,
// numbers stay json.Number (money is never a float). The error wraps ErrUnmappable and says
// data is not what ("a Be-Mo session").
//
// encoding/json is the referee of what a record means. segmentio/encoding/json, which passes
// encoding/json's own test suite, decodes a record in about half the time (decoding was a tenth
// of the pipeline's CPU in the `make bench` profile) and is tried first; whenever it refuses
// (it is stricter in places: a quoted number into json.Number, which providers send), v is
// reset and encoding/json decides, error included. FuzzDecodeRecordAgreesWithEncodingJSON holds
// the fast path to encoding/json on every provider's record type.
func DecodeRecord(data []byte, v any, what string, useNumber bool) error {
	var flags fastjson.ParseFlags
	if useNumber {
		flags |= fastjson.UseNumber
	}
	if rest, err := fastjson.Parse(data, v, flags); err == nil && len(rest) == 0 {
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv.Elem().SetZero()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return Unmappable("not %s: %v", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Unmappable("not %s: data after the JSON object", what)
	}
	return nil
}
