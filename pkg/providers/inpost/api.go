package inpost

import "encoding/json"

// Collection is ShipX's paginated list (GET /v1/organizations/:organization_id/mpks): the
// seed's attributes href, count, page, per_page and items. Items holds each MPK's JSON exactly
// as sent, so unknown fields survive into the RAW stream. Count, Page and PerPage are pointers
// so a response that leaves them out can be told from one that says 0.
type Collection struct {
	Href    string            `json:"href"`
	Count   *int              `json:"count"`    // total number of MPKs in the list
	Page    *int              `json:"page"`     // this page, 1-based
	PerPage *int              `json:"per_page"` // the page size in force
	Items   []json.RawMessage `json:"items"`
}

// MPK is one cost centre ("miejsce powstania kosztów") as the seed documents it. id is an
// integer; it is decoded as json.Number so no digit is lost. Times are ISO 8601 with a UTC
// offset and milliseconds ("2018-05-15T21:58:49.427+02:00").
type MPK struct {
	Href        string      `json:"href"`
	ID          json.Number `json:"id"`
	Name        string      `json:"name"`        // unique within the organization, ≤ 255 characters
	Description string      `json:"description"` // required when the MPK is created
	CreatedAt   string      `json:"created_at"`
	UpdatedAt   string      `json:"updated_at"`
}

// ErrorBody is ShipX's error object (API general information, "Errors"): status is the HTTP
// status, error the error key (resource_not_found, validation_failed …), message a
// human-readable text the API may change, details an object (per attribute for validation).
type ErrorBody struct {
	Status  int             `json:"status"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

// Sort parameters of the list (sort_by, sort_order).
const (
	SortByUpdatedAt = "updated_at"
	SortAsc         = "asc"
	SortDesc        = "desc"
)
