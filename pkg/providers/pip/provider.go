package pip

import (
	"net/http"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Name is the provider's label: raw.pip.*, PIP_* settings, the provider column.
const Name = "pip"

// Resource is the only resource the source emits: raw.pip.invoicing.
const Resource = "invoicing"

// Provider is the PIP (Mobai) data export integration as pkg/providers lists it. The zero value
// is ready to use; the fields exist for tests and tools.
type Provider struct {
	// Backoff tunes the retries of one request; the zero value uses poll's defaults.
	Backoff poll.Backoff
	// SimPageSize is the page size of the simulators NewSimulator builds; 0 means 1000, the
	// API's documented maximum. Tests lower it (together with PIP_PAGE_SIZE) so page boundaries
	// fall inside groups of sessions sharing one completion time.
	SimPageSize int
}

// Name returns "pip".
func (Provider) Name() string { return Name }

// Settings declares the PIP_* settings.
func (Provider) Settings() []config.Setting { return Settings() }

// NewSource builds the poll source from validated settings (Load with Settings()); hc carries
// the HTTP timeouts and is also used for the token endpoint (nil: a client with a 60s timeout).
// Problems wrap config.ErrInvalid and name the setting.
func (p Provider) NewSource(v config.Values, hc *http.Client) (poll.Source, error) {
	cfg := configFromValues(v)
	cfg.Backoff = p.Backoff
	s, err := NewSource(cfg, hc)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
