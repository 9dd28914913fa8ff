package plugsurfing

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Result codes the seed documents for result.code (all with HTTP 200).
const (
	CodeSuccess          = 0
	CodeNoPositiveAuth   = 140 // Authentication failed: No positive authentication response
	CodeEmailNotFound    = 144 // Authentication failed: Email does not exist
	CodeUserTokenInvalid = 145 // Authentication failed: User token not valid
)

// Sentinels for errors.Is on a particular result code: errors.Is(err, plugsurfing.ErrUserTokenInvalid)
// matches any *APIError carrying code 145, whatever its message.
var (
	ErrNoPositiveAuth   = &APIError{Status: http.StatusOK, Code: CodeNoPositiveAuth}
	ErrEmailNotFound    = &APIError{Status: http.StatusOK, Code: CodeEmailNotFound}
	ErrUserTokenInvalid = &APIError{Status: http.StatusOK, Code: CodeUserTokenInvalid}
)

// codeText is the seed's meaning of each documented result code.
var codeText = map[int]string{
	CodeSuccess:          "Success",
	CodeNoPositiveAuth:   "Authentication failed: No positive authentication response",
	CodeEmailNotFound:    "Authentication failed: Email does not exist",
	CodeUserTokenInvalid: "Authentication failed: User token not valid",
}

// APIError is a refusal by the Plugsurfing API: a non-zero result.code (served with HTTP 200),
// or a non-2xx status. errors.Is matches poll.ErrAuth for the codes 140, 144 and 145 (and
// HTTP 401/403): the scheduler then pauses that user until the next cycle, the other users
// keep flowing. An undocumented result code and HTTP 4xx (but 429) match poll.ErrPermanent.
// 429 and 5xx match neither: the client retries them as poll's temporary errors. The message
// never holds the token; which user it concerns is said by the error wrapping it.
type APIError struct {
	Status  int    // HTTP status (200 for a result code)
	Code    int    // result.code; 0 when the body carried none
	Message string // result.message as sent (shortened)
}

func (e *APIError) Error() string {
	var s string
	switch {
	case e.Code != CodeSuccess && e.Status == http.StatusOK:
		s = fmt.Sprintf("result %d", e.Code)
	case e.Code != CodeSuccess:
		s = fmt.Sprintf("HTTP %d, result %d", e.Status, e.Code)
	default:
		s = fmt.Sprintf("HTTP %d", e.Status)
	}
	meaning, documented := codeText[e.Code]
	if documented && e.Code != CodeSuccess {
		s += " (" + meaning + ")"
	}
	if e.Message != "" && e.Message != meaning && e.Message != meaning+"." {
		s += ": " + e.Message
	}
	switch {
	case !e.auth():
	case e.Code == CodeEmailNotFound:
		s += "; check the user's identifier in --plugsurfing-users/PLUGSURFING_USERS"
	case e.Code == CodeUserTokenInvalid:
		s += "; renew the user's token in --plugsurfing-tokens/PLUGSURFING_TOKENS"
	default:
		s += "; check the user's identifier in --plugsurfing-users/PLUGSURFING_USERS and its token in --plugsurfing-tokens/PLUGSURFING_TOKENS"
	}
	return s
}

// Is reports whether e matches target: poll.ErrAuth, poll.ErrPermanent, or an *APIError with
// the same non-zero Code (the sentinels above).
func (e *APIError) Is(target error) bool {
	switch target {
	case poll.ErrAuth:
		return e.auth()
	case poll.ErrPermanent:
		return e.permanent()
	}
	if t, ok := target.(*APIError); ok {
		return t.Code != CodeSuccess && t.Code == e.Code
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
	case CodeNoPositiveAuth, CodeEmailNotFound, CodeUserTokenInvalid:
		return true
	}
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// permanent: an undocumented result code, or a 4xx the request will get again.
func (e *APIError) permanent() bool {
	if e.retryable() || e.auth() {
		return false
	}
	return e.Code != CodeSuccess || (e.Status >= 400 && e.Status < 500)
}

var _ poll.ProviderError = (*APIError)(nil)

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status and result.code).
func (e *APIError) HTTPStatus() int { return e.Status }
func (e *APIError) ProviderCode() string {
	if e.Code == CodeSuccess {
		return ""
	}
	return strconv.Itoa(e.Code)
}
