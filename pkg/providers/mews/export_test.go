package mews

// Internals the external tests (package mews_test) exercise directly.
var (
	DecodeAddExport  = decodeAddExport
	DecodeGetExports = decodeGetExports
	DecodeError      = decodeError
)
