package providers

import (
	"errors"
	"fmt"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// ErrNoBackfill is returned by BackfillerOf for a provider whose checkpoints have no known
// relation to time.
var ErrNoBackfill = errors.New("providers: backfill not supported")

// Backfiller is an optional ability of a Provider, found by type assertion: it knows how its
// source's checkpoints relate to time, so chargectl can re-read a time range without touching
// the live checkpoint (backfill) and show or set checkpoints as dates. Both methods are pure.
type Backfiller interface {
	// BackfillCheckpoint returns a checkpoint from which the source's Fetch reads every record
	// of the window (day, page …) holding from, and everything after it.
	BackfillCheckpoint(from time.Time) (poll.Checkpoint, error)
	// CheckpointTime returns the time cp resumes at: every record Fetch emits from cp belongs to
	// that time or later, and a marker whose Next has a time T means everything before T was
	// emitted. A checkpoint the provider cannot read returns an error.
	CheckpointTime(cp poll.Checkpoint) (time.Time, error)
}

// BackfillerOf returns p's Backfiller, or an error wrapping ErrNoBackfill that names p.
func BackfillerOf(p Provider) (Backfiller, error) {
	if b, ok := p.(Backfiller); ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: provider %s does not support backfill (its checkpoints cannot be built from a time)", ErrNoBackfill, p.Name())
}
