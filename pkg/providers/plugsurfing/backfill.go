package plugsurfing

import (
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch reads every bill dated at from (to the
// second) or later: CheckpointAt(from), since date-intervals start exactly at the checkpoint.
// With CheckpointTime it lets chargectl re-read a time range (the providers.Backfiller ability,
// found by type assertion).
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	return CheckpointAt(from), nil
}

// CheckpointTime returns the instant a checkpoint resumes at: every bill dated before it has
// been read. A checkpoint not made by CheckpointAt is an error wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	return ParseCheckpoint(cp)
}
