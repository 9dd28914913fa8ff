package pip

import "encoding/json"

// ExportResponse is the body of a successful getPostenInvoicingData call
// (PostenExportResponseList). The seed names exportedThrough but not the key of the record
// list, so the list is found rather than decoded by name (see decodePage and the package doc).
// Sessions holds each session's JSON exactly as sent, so unknown fields survive into the RAW
// stream.
type ExportResponse struct {
	// ExportedThrough is the completion time through which the export is complete; the next
	// request passes it as completedAfter. Null or absent on an empty export.
	ExportedThrough *string `json:"exportedThrough"`
	// Sessions are the records, found under RecordsKey.
	Sessions []json.RawMessage `json:"-"`
	// RecordsKey is the key the sessions were found under: PIP_RECORDS_FIELD, or the body's
	// one array of objects. "" for a bare array, or a body without a list (an empty page).
	RecordsKey string `json:"-"`
}

// Session is one exported record: a completed PIP session, with the fields the seed lists
// ("session ID, PIP ID, store number, and completion timestamp") under camelCase names
// consistent with the cursor field. Ids are json.RawMessage because the seed does not say
// whether they are strings or numbers; both are accepted.
type Session struct {
	SessionID   json.RawMessage `json:"sessionId"`
	PipID       json.RawMessage `json:"pipId"`
	StoreNumber json.RawMessage `json:"storeNumber"`
	CompletedAt string          `json:"completedAt"` // ISO 8601 date-time
}

// ErrorBody is an error response. The seed documents the statuses (400, 401, 403, 500) but no
// body, so every usual field is read: code or error, message, error_description or detail.
type ErrorBody struct {
	Code             string `json:"code,omitempty"`
	Error            string `json:"error,omitempty"`
	Message          string `json:"message,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
	Detail           string `json:"detail,omitempty"`
}

// tokenResponse is the token endpoint's answer (RFC 6749 §5.1); only the simulator writes it,
// the client reads it through golang.org/x/oauth2.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// tokenError is the token endpoint's error (RFC 6749 §5.2).
type tokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}
