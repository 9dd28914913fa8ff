package plugsurfing

// Internals the external tests (package plugsurfing_test) exercise directly.
var (
	DecodeResponse = decodeResponse
	DecodeError    = decodeError
	UserKey        = User.key
)
