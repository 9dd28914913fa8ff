package poll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		errs      []error // returned by successive attempts; then nil
		wantCalls int
		wantErr   error
		minWait   time.Duration
	}{
		{name: "success first time", wantCalls: 1},
		{name: "temporary errors are retried", errs: []error{&TemporaryError{errors.New("500")}, &TemporaryError{errors.New("502")}}, wantCalls: 3},
		{name: "retry-after is honoured", errs: []error{&RetryAfterError{After: 7 * time.Second, Err: errors.New("429")}}, wantCalls: 2, minWait: 7 * time.Second},
		{name: "auth errors are not retried", errs: []error{fmt.Errorf("token expired: %w", ErrAuth)}, wantCalls: 1, wantErr: ErrAuth},
		{name: "attempts are bounded", errs: []error{&TemporaryError{ErrPermanent}, &TemporaryError{ErrPermanent}, &TemporaryError{ErrPermanent}, &TemporaryError{ErrPermanent}}, wantCalls: 3, wantErr: ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := Retry(t.Context(), Backoff{Initial: time.Millisecond, MaxAttempts: 3}, func(context.Context) error {
					calls++
					if calls <= len(tt.errs) {
						return tt.errs[calls-1]
					}
					return nil
				})
				if calls != tt.wantCalls {
					t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
				}
				if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if waited := time.Since(start); waited < tt.minWait {
					t.Errorf("waited %s, want at least %s", waited, tt.minWait)
				}
			})
		})
	}
}

func TestHTTPStatusError(t *testing.T) {
	base := errors.New("provider said no")
	tests := []struct {
		status     int
		retryAfter string
		wantAfter  time.Duration
		retryable  bool
	}{
		{status: 429, retryAfter: "3", wantAfter: 3 * time.Second, retryable: true},
		{status: 429, retryable: true},
		{status: 503, retryAfter: "1", wantAfter: time.Second, retryable: true},
		{status: 500, retryable: true},
		{status: 400},
		{status: 401},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, "/", tt.retryAfter), func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			err := HTTPStatusError(resp, base)
			wait, ok := retryable(err)
			if ok != tt.retryable || wait != tt.wantAfter || !errors.Is(err, base) {
				t.Errorf("got wait %s retryable %v (%v), want %s %v", wait, ok, err, tt.wantAfter, tt.retryable)
			}
		})
	}
}
