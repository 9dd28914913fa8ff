package pip_test

import (
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

var _ providers.Provider = pip.Provider{}

// TestConformance runs the shared provider suite against the PIP simulator with pages of six,
// so page boundaries cut through sessions sharing a completion time (the planned group of
// five) and one group is larger than a page; once with client credentials (the simulator's
// token endpoint, as SimEnv configures) and once with the static token.
func TestConformance(t *testing.T) {
	now := providertest.Fixed(testNow)
	p := pip.Provider{SimPageSize: testPageSize}
	for _, tc := range []struct {
		name string
		env  func(baseURL string) map[string]string
	}{
		{"ClientCredentials", p.SimEnv},
		{"StaticToken", func(baseURL string) map[string]string {
			env := p.SimEnv(baseURL)
			delete(env, "PIP_TOKEN_URL")
			delete(env, "PIP_CLIENT_ID")
			delete(env, "PIP_CLIENT_SECRET")
			env["PIP_ACCESS_TOKEN"] = pip.SimAccessToken
			return env
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			providertest.Run(t, p, providertest.Features{
				Config: func(t testing.TB, baseURL string) config.Values {
					return providertest.Values(t, p, tc.env(baseURL))
				},
				Now: now,
			})
		})
	}
}
