package plugsurfing_test

import (
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

var _ providers.Provider = plugsurfing.Provider{}

// TestConformance runs the shared provider suite against the Plugsurfing simulator, with 2-day
// windows so every user's 30 days take many calls. Bills carry no money: Totals is off.
func TestConformance(t *testing.T) {
	now := providertest.Fixed(testNow)
	p := plugsurfing.Provider{Now: now}
	providertest.Run(t, p, providertest.Features{
		Config: func(t testing.TB, baseURL string) config.Values {
			env := plugsurfing.SimEnv(baseURL)
			env["PLUGSURFING_WINDOW"] = "48h"
			return providertest.Values(t, p, env)
		},
		Now:    now,
		Totals: false,
	})
}
