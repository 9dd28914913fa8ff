package pip

import (
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch reads every session completed at or
// after from: completedAfter is exclusive, so the cursor is one nanosecond before from (in
// RFC 3339 UTC). It makes Provider a providers.Backfiller.
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	return CheckpointAt(from.Add(-time.Nanosecond).UTC().Format(time.RFC3339Nano))
}

// CheckpointTime returns the completion time a checkpoint resumes after: every session
// completed at or before it was emitted, and Fetch emits only later ones. The beginning ({})
// is the zero time. A malformed checkpoint is an error wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	p, err := parseCheckpoint(cp)
	if err != nil {
		return time.Time{}, err
	}
	return p.after.t.UTC(), nil
}
