package inpost

import (
	"errors"
	"fmt"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch emits every MPK whose current version
// was updated at from or later: Cursor{UpdatedAt: from}. (ShipX serves only an MPK's current
// version, so an MPK last changed before from is not read again.) It makes Provider a
// providers.Backfiller.
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	if from.IsZero() {
		return "", errors.New("inpost: backfill needs a time")
	}
	return Cursor{UpdatedAt: from.UTC()}.Checkpoint(), nil
}

// CheckpointTime returns the updated_at a checkpoint resumes at: every MPK version updated
// before it was emitted. A checkpoint not made by Cursor.Checkpoint (the empty one included:
// it has no time, the next poll reads the whole list) is an error wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	if cp == "" {
		return time.Time{}, fmt.Errorf("inpost: the empty checkpoint has no time (the next poll reads every MPK): %w", poll.ErrPermanent)
	}
	c, err := ParseCursor(cp)
	if err != nil {
		return time.Time{}, fmt.Errorf("inpost: %w", err)
	}
	return c.UpdatedAt, nil
}
