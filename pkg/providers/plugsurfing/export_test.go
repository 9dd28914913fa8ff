package plugsurfing

import "encoding/json"

// Internals the external tests (package plugsurfing_test) exercise directly.
var (
	DecodeError = decodeError
	UserKey     = User.key
)

// DecodeResponse is decodeResponse with its answer's parts.
func DecodeResponse(body []byte) (code int, message string, bills []json.RawMessage, err error) {
	a, err := decodeResponse(body)
	return a.code, a.message, a.bills, err
}
