package mews

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/chargeline/chargeline/pkg/poll"
)

// ErrExportFailed is wrapped by the error Fetch returns when Mews reports an export as Failed.
// The checkpoint is already back at the window's start, so the next poll adds a new export.
var ErrExportFailed = errors.New("mews: export failed")

// ErrLineTooLong is wrapped (with poll.ErrPermanent) by the error Fetch returns for a JSON line
// longer than MEWS_MAX_LINE_BYTES. The checkpoint stays before that line: raise the setting and
// the next poll resumes there.
var ErrLineTooLong = errors.New("mews: export file line too long")

// errURLRefused is matched by a *FileError whose status means the signed URL no longer
// works: the source fetches fresh URLs with exports/getAll.
var errURLRefused = errors.New("mews: export file URL refused")

// APIError is a refusal by the Mews Connector API: a non-2xx status with Mews's
// {Message, RequestId, Details} body. errors.Is matches poll.ErrAuth for 401 (an invalid or
// expired ClientToken / AccessToken) and poll.ErrPermanent for the other 4xx but 408 and 429
// (a bad request, or 403: the business rule refused it). 408, 429 and 5xx match neither: the
// client wraps them as poll's retryable errors.
type APIError struct {
	Status    int    // HTTP status
	Message   string // Mews's Message (shortened)
	RequestID string // Mews's RequestId, for support tickets
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	if e.auth() {
		s += " (check --" + settingClientToken + "/MEWS_CLIENT_TOKEN and --" + settingAccessToken + "/MEWS_ACCESS_TOKEN)"
	}
	return s
}

// Is reports whether e matches poll.ErrAuth or poll.ErrPermanent.
func (e *APIError) Is(target error) bool {
	switch target {
	case poll.ErrAuth:
		return e.auth()
	case poll.ErrPermanent:
		return e.permanent()
	}
	return false
}

func (e *APIError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func (e *APIError) auth() bool { return e.Status == http.StatusUnauthorized }

func (e *APIError) permanent() bool {
	return !e.retryable() && !e.auth() && e.Status >= 400
}

// FileError is a non-2xx answer to an export file download. Its URL has no query, since the
// query carries the signature. 400, 401, 403, 404 and 410 mean the signed URL no longer works
// (expired or revoked): the source fetches fresh URLs and resumes. 408, 429 and 5xx are
// retried; anything else matches poll.ErrPermanent.
type FileError struct {
	Status  int
	URL     string // without query
	Message string // the start of the body, shortened
}

func (e *FileError) Error() string {
	s := fmt.Sprintf("download %s: HTTP %d", e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether e matches poll.ErrPermanent (or, inside the package, a refused URL).
func (e *FileError) Is(target error) bool {
	switch target {
	case errURLRefused:
		return e.refused()
	case poll.ErrPermanent:
		return !e.refused() && !e.retryable()
	}
	return false
}

func (e *FileError) refused() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

func (e *FileError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

var (
	_ poll.ProviderError = (*APIError)(nil)
	_ poll.ProviderError = (*FileError)(nil)
)

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status; Mews sends no
// error code).
func (e *APIError) HTTPStatus() int      { return e.Status }
func (e *APIError) ProviderCode() string { return "" }

// HTTPStatus and ProviderCode make e a poll.ProviderError (metrics by status).
func (e *FileError) HTTPStatus() int      { return e.Status }
func (e *FileError) ProviderCode() string { return "" }
