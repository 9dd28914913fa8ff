package poll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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

// TransportError classifies a failure to get a provider's response: after ctx ended it is
// returned as is (the poll is stopping, not failing); otherwise it is temporary (reset, refused,
// timeout, truncated body) and retried.
func TransportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return &TemporaryError{Err: err}
}

// SafeText makes text from outside (a provider's answer, a setting's value) safe and short for an
// error message: secrets replaced by [redacted], valid UTF-8, no control characters (no forged
// log lines), at most 300 bytes.
func SafeText(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
