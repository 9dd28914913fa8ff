package plugsurfing

import "encoding/json"

// CallUserGetBills is the request's only key: it identifies the call.
const CallUserGetBills = "user-get-bills"

// DateLayout is the seed's "Y-m-d\TH:i:sP" (PHP): seconds and a ±hh:mm offset, never "Z"
// (2015-03-04T13:32:12+01:00).
const DateLayout = "2006-01-02T15:04:05-07:00"

// Request is the body of a user-get-bills call: {"user-get-bills": {user, date-interval}}.
type Request struct {
	UserGetBills UserGetBills `json:"user-get-bills"`
}

// UserGetBills asks for one user's bills in a date interval.
type UserGetBills struct {
	User         RequestUser  `json:"user"`
	DateInterval DateInterval `json:"date-interval"`
}

// RequestUser identifies and authenticates the customer.
type RequestUser struct {
	IdentifierType string `json:"identifier-type"` // evco-id, rfid, username, token
	Identifier     string `json:"identifier"`
	Token          string `json:"token,omitempty"` // optional
}

// DateInterval bounds the bills returned; both ends are written in DateLayout.
type DateInterval struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Response is the body of every answer as the seed's example shows it: the bills on success,
// and the outcome in result (whose code is 0 on success, 140 / 144 / 145 when authentication
// failed), with HTTP 200 either way. The client reads more than this shape (see the package
// doc): bills at the top level as the seed's field list has them, and a code written as a
// string.
type Response struct {
	User   *ResponseUser `json:"user"`
	Result *Result       `json:"result"`
}

// ResponseUser holds the bills. Each bill's JSON is kept exactly as sent, so unknown fields
// survive into the RAW stream.
type ResponseUser struct {
	Bills []json.RawMessage `json:"bills"`
}

// Result is the outcome of a call.
type Result struct {
	Code    *int   `json:"code"` // nil when the body carries no code
	Message string `json:"message"`
}

// Bill is one bill, field for field as the seed documents it: the invoice document's URL and
// the charging sessions it covers. The seed gives it no id and no date. The mapping also reads
// session ids written as JSON integers and the list under another spelling of its name.
type Bill struct {
	ExternalSessionIDs []string `json:"external-session-ids"`
	Bill               string   `json:"bill"` // URL of the invoice (PDF)
}
