package bemo

import (
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch reads the sessions of from's UTC day
// and every later day: CheckpointAt(from). It makes Provider a providers.Backfiller.
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	return CheckpointAt(from), nil
}

// CheckpointTime returns the UTC midnight a checkpoint resumes at: every day before it was
// read completely. A checkpoint not made by CheckpointAt is an error wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	return ParseCheckpoint(cp)
}
