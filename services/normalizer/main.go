// Command normalizer maps raw provider records from the RAW stream to canonical events on
// EVENTS, dead-lettering what cannot be mapped (DESIGN.md §7).
package main

import (
	"os"

	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	service.DefaultGCPercent(normalize.GCPercent)
	os.Exit(service.Main("normalizer", os.Args[1:], os.Stderr, pipeline.NormalizerSettings(), pipeline.ServeNormalizer))
}
