package mews_test

import (
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

var _ providers.Provider = mews.Provider{}

// TestConformance runs the shared provider suite against the Mews simulator. The suite counts
// every data record against Truth().Records, the canonical events, so it polls the Bill scope
// only (one Bill, one invoice.v1 event); TestSourceEveryEntityType covers the other nine. The
// baseline scenarios run the whole asynchronous export (add, Pending → Processing → Success,
// streamed files over several files); cancelling mid-file resumes with a Range request.
func TestConformance(t *testing.T) {
	now := providertest.Fixed(testNow)
	p := mews.Provider{
		Now:        now,
		Backoff:    poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		ExportWait: poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 20},
	}
	providertest.Run(t, p, providertest.Features{
		Config: func(t testing.TB, baseURL string) config.Values {
			env := mews.SimEnv(baseURL)
			env["MEWS_ENTITY_TYPES"] = mews.EntityBill
			return providertest.Values(t, p, env)
		},
		Now:    now,
		Totals: true,
	})
}
