package pip

import (
	"fmt"
	"net/http"

	"github.com/chargeline/chargeline/pkg/poll"
)

// APIError is a refusal by the PIP data export API (a non-2xx status). errors.Is matches
// poll.ErrAuth for 401 (the bearer token was refused, after one refresh when the client holds
// client credentials) and 403 (the client lacks the permission to read the export), and
// poll.ErrPermanent for the other 4xx: a 400 (the API refused completedAfter) is a bug report,
// so the error carries the request. 408, 429 and 5xx match neither: the client wraps them as
// poll's retryable errors.
type APIError struct {
	Status  int    // HTTP status
	Code    string // the body's code (or error); "" when it carried none
	Message string // the body's message, as sent (shortened)
	// Request is the method and URL that was refused, without credentials (the token travels
	// in the Authorization header, never in the URL).
	Request string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		s += " (the bearer token was refused: check " + staticTokenSettings + ", or " + clientCredsSettings + ")"
	case e.Status == http.StatusForbidden:
		s += " (permission denied: the credentials are valid but may not read this data export; ask Mobai to grant the data export permission, or check --pip-export/PIP_EXPORT)"
	case e.Status == http.StatusBadRequest:
		s += " (the API refused chargeline's request " + e.Request + "; this is a bug: please report it with this request)"
	case e.Status == http.StatusNotFound:
		s += " (no such export at " + e.Request + ": check --pip-base-url/PIP_BASE_URL and --pip-export/PIP_EXPORT)"
	case e.Request != "":
		s += " (" + e.Request + ")"
	}
	return s
}

// Is reports whether e matches poll.ErrAuth (401, 403) or poll.ErrPermanent (other 4xx but
// 408 and 429).
func (e *APIError) Is(target error) bool {
	switch target {
	case poll.ErrAuth:
		return e.auth()
	case poll.ErrPermanent:
		return !e.auth() && !e.retryable() && e.Status >= 400 && e.Status < 500
	}
	return false
}

func (e *APIError) auth() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

func (e *APIError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// TokenError is a refusal by the OAuth2 token endpoint (RFC 6749 §5.2): the client
// credentials, the requested scopes or the token URL are wrong. errors.Is matches poll.ErrAuth
// for every 4xx but 408 and 429; those and 5xx are retried by the client instead.
type TokenError struct {
	Status      int    // HTTP status of the token endpoint
	Code        string // RFC 6749 error code: invalid_client, invalid_scope, …
	Description string // error_description, shortened
	URL         string // the token endpoint, redacted
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("token endpoint %s: HTTP %d", e.URL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Is(poll.ErrAuth) {
		s += " (check --pip-token-url/PIP_TOKEN_URL, --pip-client-id/PIP_CLIENT_ID, --pip-client-secret/PIP_CLIENT_SECRET and --pip-oauth-scopes/PIP_OAUTH_SCOPES)"
	}
	return s
}

// Is reports whether e matches poll.ErrAuth.
func (e *TokenError) Is(target error) bool {
	return target == poll.ErrAuth && e.Status >= 400 && e.Status < 500 &&
		e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

var (
	_ poll.ProviderError = (*APIError)(nil)
	_ poll.ProviderError = (*TokenError)(nil)
)

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status and code).
func (e *APIError) HTTPStatus() int      { return e.Status }
func (e *APIError) ProviderCode() string { return e.Code }

// HTTPStatus and ProviderCode make e a poll.ProviderError: the token endpoint's status and
// RFC 6749 error code.
func (e *TokenError) HTTPStatus() int      { return e.Status }
func (e *TokenError) ProviderCode() string { return e.Code }
