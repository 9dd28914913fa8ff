package poll

import (
	"errors"
	"fmt"
	"time"
)

// ErrAuth is wrapped (or matched through Is) by provider errors that mean the credentials were
// refused: expired or invalid tokens. The scheduler reports it once per scope and waits for the
// next cycle instead of retrying.
var ErrAuth = errors.New("poll: authentication refused")

// ErrPermanent is wrapped by provider errors that retrying cannot fix (a bad request, an unknown
// account): reported, not retried.
var ErrPermanent = errors.New("poll: permanent provider error")

// TemporaryError marks a failure worth retrying with backoff: 5xx, timeouts, a reset connection.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }

// RetryAfterError is a temporary failure whose server said when to come back (HTTP 429/503 with
// Retry-After). Retry waits at least After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }
