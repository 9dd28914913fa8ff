package service

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent sets the garbage collector's target percentage (what GOGC sets) to percent
// unless the GOGC environment variable chooses one, and returns the percentage in effect. A
// service whose live heap is small next to its allocation rate spends less CPU per record
// collecting less often; GOMEMLIMIT (the Kubernetes manifests set it from the container's
// limit) still bounds the heap, the GC running more often as it nears that limit.
func DefaultGCPercent(percent int) int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(percent)
	return percent
}
