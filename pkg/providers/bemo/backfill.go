package bemo

import (
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch reads the sessions of from's UTC day
// and every later day: CheckpointAt(from). Read on to the end (no --to), Fetch then also sweeps
// the earlier days of the retained range for what Be-Mo created or corrected on that day or
// later. It makes Provider a providers.Backfiller.
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	return CheckpointAt(from), nil
}

// CheckpointTime returns the UTC midnight a checkpoint resumes at (its next_day): every day
// before it was read completely. The sweep after the closed days emits sessions of earlier days
// too, those Be-Mo created on the checkpoint's swept date or later. Both checkpoint forms are
// read; anything else is an error wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	return ParseCheckpoint(cp)
}
