package poll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Backoff is an exponential backoff with full jitter.
type Backoff struct {
	Initial     time.Duration // first wait; default 200ms
	Max         time.Duration // cap of one wait; default 30s
	MaxAttempts int           // attempts including the first; default 8
	// MaxRetryAfter caps a server's Retry-After so a wrong header cannot stall a scope; default 5m.
	MaxRetryAfter time.Duration
}

func (b *Backoff) setDefaults() {
	if b.Initial <= 0 {
		b.Initial = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.MaxAttempts <= 0 {
		b.MaxAttempts = 8
	}
	if b.MaxRetryAfter <= 0 {
		b.MaxRetryAfter = 5 * time.Minute
	}
}

// Retry runs op until it succeeds, returns an error that is not temporary, ctx ends, or the
// attempts are used up. Temporary means *TemporaryError, *RetryAfterError or a network timeout;
// a RetryAfterError waits at least its After. The last error is returned, wrapped with the
// attempt count. Every failed attempt wrapping a ProviderError is reported to the scheduler
// polling the scope (metrics).
func Retry(ctx context.Context, b Backoff, op func(ctx context.Context) error) error {
	b.setDefaults()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		observeError(ctx, err)
		wait, ok := retryable(err)
		if !ok || ctx.Err() != nil {
			return err
		}
		if attempt >= b.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		backoff := b.Initial << min(attempt-1, 20)
		if backoff > b.Max || backoff <= 0 {
			backoff = b.Max
		}
		// Full jitter spreads replicas that failed together.
		backoff = time.Duration(rand.Int64N(int64(backoff)) + 1)
		if wait > 0 {
			backoff = max(backoff, min(wait, b.MaxRetryAfter))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func retryable(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	var te *TemporaryError
	if errors.As(err, &te) {
		return 0, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, true
	}
	return 0, false
}

// HTTPStatusError classifies a non-2xx HTTP status for Retry: 429 and 503 with Retry-After
// become *RetryAfterError, other 429/5xx *TemporaryError; anything else is returned as err.
// Provider clients call it after decoding their own error body into err.
func HTTPStatusError(resp *http.Response, err error) error {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &RetryAfterError{After: d, Err: err}
		}
		return &TemporaryError{Err: err}
	case resp.StatusCode >= 500:
		return &TemporaryError{Err: err}
	}
	return err
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
