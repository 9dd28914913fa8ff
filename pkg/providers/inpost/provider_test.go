package inpost_test

import (
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

var _ providers.Provider = inpost.Provider{}

// TestConformance runs the shared provider suite against the ShipX simulator, with pages of 3
// so page boundaries cut through MPKs sharing an updated_at. MPKs carry no money: no Totals.
func TestConformance(t *testing.T) {
	p := inpost.Provider{}
	providertest.Run(t, p, providertest.Features{
		Config: func(t testing.TB, baseURL string) config.Values {
			env := inpost.SimEnv(baseURL)
			env["INPOST_PAGE_SIZE"] = "3"
			return providertest.Values(t, p, env)
		},
		Now:    providertest.Fixed(testNow),
		Totals: false,
	})
}
