package inpost

import (
	"net/http"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Name is the provider's label: raw.inpost.*, INPOST_* settings, the provider column.
const Name = "inpost"

// Resource is the only resource the source emits: raw.inpost.mpks.
const Resource = "mpks"

// Provider is the InPost ShipX MPK integration as pkg/providers lists it. The zero value is
// ready to use; the field exists for tests and tools that need to steer retries.
type Provider struct {
	// Backoff tunes the retries of one request; the zero value uses poll's defaults.
	Backoff poll.Backoff
}

// Name returns "inpost".
func (Provider) Name() string { return Name }

// Settings declares the INPOST_* settings.
func (Provider) Settings() []config.Setting { return Settings() }

// NewSource builds the poll source from validated settings (Load with Settings()); hc carries
// the HTTP timeouts (nil: a client with a 60s timeout). Problems wrap config.ErrInvalid and name
// the setting.
func (p Provider) NewSource(v config.Values, hc *http.Client) (poll.Source, error) {
	cfg := configFromValues(v)
	cfg.Backoff = p.Backoff
	s, err := NewSource(cfg, hc)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
