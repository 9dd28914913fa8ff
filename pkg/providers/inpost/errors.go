package inpost

import (
	"fmt"
	"net/http"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Error keys of ShipX error bodies that the client branches on. The MPK seed names
// resource_not_found; the others come from ShipX's general error documentation.
const (
	CodeResourceNotFound = "resource_not_found" // 404: unknown organization or MPK
	CodeValidationFailed = "validation_failed"  // 400: bad parameters or body
)

// Sentinels for errors.Is on a particular error key: errors.Is(err, inpost.ErrResourceNotFound)
// matches any *APIError carrying that key, whatever its status and message.
var (
	ErrResourceNotFound = &APIError{Code: CodeResourceNotFound}
	ErrValidationFailed = &APIError{Code: CodeValidationFailed}
)

// APIError is a refusal by the ShipX API: a non-2xx status with its error body. errors.Is
// matches poll.ErrAuth for 401 and 403, and poll.ErrPermanent for every other 4xx except 408
// and 429 (resource_not_found, validation_failed …). 408, 429 and 5xx match neither: the client
// wraps them as poll's retryable errors.
type APIError struct {
	Status  int    // HTTP status
	Code    string // the body's error key; "" when the body carried none
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
	case e.Status == http.StatusUnauthorized:
		s += " (the access token --inpost-access-token/INPOST_ACCESS_TOKEN was refused)"
	case e.Status == http.StatusForbidden:
		s += " (check that --inpost-access-token/INPOST_ACCESS_TOKEN may read the organizations in --inpost-organizations/INPOST_ORGANIZATIONS)"
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
		return e.permanent()
	}
	if t, ok := target.(*APIError); ok {
		return t.Code != "" && t.Code == e.Code
	}
	return false
}

// retryable statuses are never auth or permanent, whatever key the body carries.
func (e *APIError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func (e *APIError) auth() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

func (e *APIError) permanent() bool {
	if e.retryable() || e.auth() {
		return false
	}
	return e.Status >= 400 || e.Code == CodeResourceNotFound || e.Code == CodeValidationFailed
}

var _ poll.ProviderError = (*APIError)(nil)

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status and code).
func (e *APIError) HTTPStatus() int      { return e.Status }
func (e *APIError) ProviderCode() string { return e.Code }
