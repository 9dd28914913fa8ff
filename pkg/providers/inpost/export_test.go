package inpost

// Internals the external tests (package inpost_test) exercise directly.
var (
	DecodeCollection = decodeCollection
	DecodeError      = decodeError
)
