package bemo

// Internals the external tests (package bemo_test) exercise directly.
var (
	DecodeEnvelope = decodeEnvelope
	DecodeError    = decodeError
)
