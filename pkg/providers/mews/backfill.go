package mews

import (
	"errors"
	"fmt"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// BackfillCheckpoint returns the checkpoint whose Fetch exports every entity updated at or after
// from: the Position {"from": from} with from rounded down to the second (windows are written in
// whole seconds, so the first one starts at or before from), the same as CheckpointAt. Windows
// then follow as for the live poller: at most MEWS_MAX_WINDOW each, up to MEWS_END_LAG before
// the source's clock. A zero time or one outside 1970 … 2105 is an error. It makes Provider a
// providers.Backfiller.
func (Provider) BackfillCheckpoint(from time.Time) (poll.Checkpoint, error) {
	if from.IsZero() {
		return "", errors.New("mews: backfill needs a start time")
	}
	if from.Before(minTime) || !from.Before(maxTime) {
		return "", fmt.Errorf("mews: backfill start %s is outside 1970 … 2105", from.UTC().Format(time.RFC3339))
	}
	return CheckpointAt(from), nil
}

// CheckpointTime returns the Position's from: every entity updated before it was emitted (and
// is durable, for a live checkpoint), and Fetch emits only entities updated at or after it. A
// checkpoint in the middle of an export resumes inside the window starting at from, so it
// returns that from too, until the marker after the export's last file moves from to the
// window's end. The empty checkpoint (a scope never polled, which starts at MEWS_START, a
// setting and not a checkpoint) and a malformed one are errors wrapping poll.ErrPermanent.
func (Provider) CheckpointTime(cp poll.Checkpoint) (time.Time, error) {
	if cp == "" {
		return time.Time{}, fmt.Errorf("mews: an empty checkpoint starts at MEWS_START, not at a time of its own: %w", poll.ErrPermanent)
	}
	p, err := ParseCheckpoint(cp)
	if err != nil {
		return time.Time{}, fmt.Errorf("mews: %w", err)
	}
	return p.From, nil
}
