// Package poll runs provider sources: per scope, it takes a lease, reads the checkpoint, fetches
// records, publishes them to RAW and advances the checkpoint only once every record before it
// has its JetStream PubAck, so a restart neither misses nor re-fetches completed work.
package poll

import (
	"context"
	"time"
)

// Checkpoint is a source's opaque position in one scope ("" = start from the beginning). Sources
// encode whatever they need (a date window, a cursor and the ids already seen at it) as text.
type Checkpoint string

// Record is one provider record, a gap report when Gap is set, or a checkpoint marker when
// Data and Gap are nil.
type Record struct {
	Resource string // raw.<provider>.<resource>
	ID       string // the provider's record id
	Data     []byte // exactly as the provider sent it
	// Gap, when set, reports records the source knows exist and cannot read (Data is nil).
	// The scheduler records it durably (the poller_gaps bucket, a metric, a WARN line) before
	// the checkpoint may pass Next, so a gap is never skipped silently.
	Gap *Gap
	// Next, when not empty, is the checkpoint that is valid once this record and every record
	// emitted before it are durable. A marker (Data nil) only advances the checkpoint.
	Next Checkpoint
}

// Source is what a provider offers the scheduler.
type Source interface {
	// Scopes lists the independent units of work (accounts, users, entity types): each gets its
	// own checkpoint and lease.
	Scopes(ctx context.Context) ([]string, error)
	// Fetch calls emit for each record after from, oldest first, and returns when the scope is
	// caught up. An emit error stops Fetch, which returns it (wrapped). Errors wrapping ErrAuth
	// stop the scope until the next cycle without retry loops.
	Fetch(ctx context.Context, scope string, from Checkpoint, emit func(Record) error) error
}

// Gap kinds.
const (
	// GapTie: more records share one cursor value than one response can hold, and the API
	// cannot be asked for the rest (a strictly-after cursor): At is the value, Read how many of
	// them were read.
	GapTie = "tie"
	// GapOversized: a record the bus cannot take (larger than the NATS max payload or the
	// stream's maximum message size). Its bytes are kept in the poller_oversized object store
	// under Object, and the scope moves on.
	GapOversized = "oversized"
)

// Gap is data a provider has that did not reach RAW: what an analyst's numbers miss, reported
// instead of passed over.
type Gap struct {
	Kind     string    `json:"kind"` // GapTie, GapOversized
	Provider string    `json:"provider"`
	Scope    string    `json:"scope"`
	Resource string    `json:"resource,omitempty"`
	RecordID string    `json:"record_id,omitempty"` // oversized: the record
	At       time.Time `json:"at,omitzero"`         // tie: the shared cursor instant
	Read     int       `json:"read,omitempty"`      // tie: records of it that were read
	Size     int       `json:"size,omitempty"`      // oversized: the message's size in bytes
	Limit    int       `json:"limit,omitempty"`     // oversized: the limit it exceeds
	Object   string    `json:"object,omitempty"`    // oversized: object store name of its bytes
	Detail   string    `json:"detail,omitempty"`    // what the source or the bus said
	Found    time.Time `json:"found"`               // when the poller recorded it
}
