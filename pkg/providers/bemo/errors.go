package bemo

import (
	"fmt"
	"net/http"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Error codes the seed documents for the envelope's errors.
const (
	CodeArgumentException = "ArgumentException" // 400: a bad from / to / offset / limit
	CodeInvalidJWT        = "InvalidJWT"        // 401 / 403: the access token cannot be decoded
	CodeTokenExpired      = "TokenExpired"      // 401: the access token's lifetime is over
	CodeTokenNotPresent   = "TokenNotPresent"   // 401: no Authorization header
	CodeResourceNotFound  = "ResourceNotFound"  // 404: unknown account
)

// Sentinels for errors.Is on a particular code: errors.Is(err, bemo.ErrTokenExpired) matches
// any *APIError carrying that code, whatever its status and message.
var (
	ErrArgument         = &APIError{Code: CodeArgumentException}
	ErrInvalidJWT       = &APIError{Code: CodeInvalidJWT}
	ErrTokenExpired     = &APIError{Code: CodeTokenExpired}
	ErrTokenNotPresent  = &APIError{Code: CodeTokenNotPresent}
	ErrResourceNotFound = &APIError{Code: CodeResourceNotFound}
)

// APIError is a refusal by the Be-Mo API: an error envelope, or a non-2xx status with the
// gateway's own body. errors.Is matches poll.ErrAuth for the token codes and 401/403, and
// poll.ErrPermanent for ArgumentException, ResourceNotFound and 400/404. 429 and 5xx match
// neither: the client wraps them as poll's retryable errors.
type APIError struct {
	Status  int    // HTTP status (200 for an error envelope served with 200)
	Code    string // the envelope's error code; "" when the body carried none
	Message string // the API's message, as sent (shortened)
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Status == 0 {
		s = "API error"
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch {
	case e.Code == CodeInvalidJWT || e.Code == CodeTokenExpired || e.Code == CodeTokenNotPresent:
		s += " (the access token --bemo-access-token/BEMO_ACCESS_TOKEN was refused)"
	case e.auth():
		s += " (check --bemo-access-token/BEMO_ACCESS_TOKEN and --bemo-subscription-key/BEMO_SUBSCRIPTION_KEY)"
	}
	return s
}

// Is reports whether e matches target: poll.ErrAuth, poll.ErrPermanent, or an *APIError with
// the same Code (the sentinels above).
func (e *APIError) Is(target error) bool {
	switch target {
	case poll.ErrAuth:
		return e.auth()
	case poll.ErrPermanent:
		return !e.auth() && e.permanent()
	}
	if t, ok := target.(*APIError); ok {
		return t.Code != "" && t.Code == e.Code
	}
	return false
}

// retryable statuses are never auth or permanent, whatever code the body carries.
func (e *APIError) retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func (e *APIError) auth() bool {
	if e.retryable() {
		return false
	}
	switch e.Code {
	case CodeInvalidJWT, CodeTokenExpired, CodeTokenNotPresent:
		return true
	}
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

func (e *APIError) permanent() bool {
	if e.retryable() {
		return false
	}
	switch e.Code {
	case CodeArgumentException, CodeResourceNotFound:
		return true
	}
	return e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound
}

var _ poll.ProviderError = (*APIError)(nil)

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status and code).
func (e *APIError) HTTPStatus() int      { return e.Status }
func (e *APIError) ProviderCode() string { return e.Code }
