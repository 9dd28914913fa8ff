// Package providers lists the provider integrations chargeline ships. Adding a provider means
// one folder under pkg/providers and one entry in All.
package providers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// ErrUnknown is returned by Lookup for a provider name that is not in All.
var ErrUnknown = errors.New("providers: unknown provider")

// Provider is one integration. Provider packages satisfy it structurally, so none of them
// imports this package.
type Provider interface {
	// Name is the provider's label: raw.<name>.*, <NAME>_* settings, the provider column.
	Name() string
	// Settings declares the provider's configuration (credentials, scopes, base URL).
	Settings() []config.Setting
	// NewSource builds the poll source from validated settings; hc carries timeouts.
	NewSource(v config.Values, hc *http.Client) (poll.Source, error)
	// Map turns one raw record into canonical events. It is pure; bad input returns an error
	// wrapping events.ErrUnmappable. A record that carries no event returns none.
	Map(raw events.Raw) ([]events.Event, error)
	// NewSimulator serves the provider's API from deterministic synthetic data.
	NewSimulator(opts sim.Options) sim.Simulator
	// SimEnv returns the settings (as environment variables) that point the provider's source
	// at its simulator served at baseURL: devstack and the end-to-end tests use it.
	SimEnv(baseURL string) map[string]string
}

// All returns every provider chargeline ships: the registration list.
func All() []Provider {
	return []Provider{bemo.Provider{}, inpost.Provider{}, mews.Provider{}, pip.Provider{}, plugsurfing.Provider{}}
}

// Lookup returns the provider called name.
func Lookup(name string) (Provider, error) {
	var names []string
	for _, p := range All() {
		if p.Name() == name {
			return p, nil
		}
		names = append(names, p.Name())
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(names, ", "))
}
