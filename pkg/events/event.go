package events

import (
	"errors"
	"time"
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
)

// SchemaVersion is the schema_version every v1 event carries.
const SchemaVersion = "1"

// Event is one canonical event ready to publish: Data is its JSON body.
type Event struct {
	ID       string // ce-id: EventID(provider, type, source id, source version)
	Type     string // TypeChargingSession, TypeInvoice, TypeCostCenter
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
