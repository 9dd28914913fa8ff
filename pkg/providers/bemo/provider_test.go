package bemo_test

import (
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

var _ providers.Provider = bemo.Provider{}

// TestConformance runs the shared provider suite against the Be-Mo simulator, with pages of 3
// so page boundaries cut through sessions sharing a start time.
func TestConformance(t *testing.T) {
	now := providertest.Fixed(testNow)
	p := bemo.Provider{Now: now}
	providertest.Run(t, p, providertest.Features{
		Config: func(t testing.TB, baseURL string) config.Values {
			env := bemo.SimEnv(baseURL)
			env["BEMO_PAGE_SIZE"] = "3"
			return providertest.Values(t, p, env)
		},
		Now:    now,
		Totals: true,
	})
}
