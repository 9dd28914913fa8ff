// Package poll runs provider sources: per scope, it takes a lease, reads the checkpoint, fetches
// records, publishes them to RAW and advances the checkpoint only once every record before it
// has its JetStream PubAck, so a restart neither misses nor re-fetches completed work.
package poll

import "context"

// Checkpoint is a source's opaque position in one scope ("" = start from the beginning). Sources
// encode whatever they need (a date window, a cursor and the ids already seen at it) as text.
type Checkpoint string

// Record is one provider record, or a checkpoint marker when Data is nil.
type Record struct {
	Resource string // raw.<provider>.<resource>
	ID       string // the provider's record id
	Data     []byte // exactly as the provider sent it
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
