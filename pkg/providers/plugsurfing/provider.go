package plugsurfing

import (
	"errors"
	"net/http"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Name is the provider's label: raw.plugsurfing.*, PLUGSURFING_* settings, the provider column.
const Name = "plugsurfing"

// Resource is the only resource the source emits: raw.plugsurfing.bills.
const Resource = "bills"

// Provider is the Plugsurfing integration as pkg/providers lists it. The zero value is ready to
// use; the fields exist for tests and tools that need to steer time and retries.
type Provider struct {
	// Now is the source's clock: it decides where the date intervals end. Nil means time.Now.
	Now func() time.Time
	// Backoff tunes the retries of one user-get-bills call; the zero value uses poll's defaults.
	Backoff poll.Backoff
}

// Name returns "plugsurfing".
func (Provider) Name() string { return Name }

// Settings declares the PLUGSURFING_* settings.
func (Provider) Settings() []config.Setting { return Settings() }

// NewSource builds the poll source from validated settings (Load with Settings()); hc carries
// the HTTP timeouts (nil: a client with a 60s timeout). Problems wrap config.ErrInvalid and name
// the setting; no token is ever part of the message.
func (p Provider) NewSource(v config.Values, hc *http.Client) (poll.Source, error) {
	cfg, err := configFromValues(v)
	if err != nil {
		return nil, errors.Join(err, cfg.Validate())
	}
	cfg.Backoff = p.Backoff
	s, err := NewSource(cfg, hc, p.Now)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
