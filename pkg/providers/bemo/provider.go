package bemo

import (
	"net/http"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Name is the provider's label: raw.bemo.*, BEMO_* settings, the provider column.
const Name = "bemo"

// Resource is the only resource the source emits: raw.bemo.sessions.
const Resource = "sessions"

// Provider is the Be-Mo integration as pkg/providers lists it. The zero value is ready to use;
// the fields exist for tests and tools that need to steer time and retries.
type Provider struct {
	// Now is the source's clock: it decides which days are "today" and still open. Nil means
	// time.Now.
	Now func() time.Time
	// Backoff tunes the retries of one page request; the zero value uses poll's defaults.
	Backoff poll.Backoff
}

// Name returns "bemo".
func (Provider) Name() string { return Name }

// Settings declares the BEMO_* settings.
func (Provider) Settings() []config.Setting { return Settings() }

// NewSource builds the poll source from validated settings (Load with Settings()); hc carries
// the HTTP timeouts (nil: a client with a 60s timeout). Problems wrap config.ErrInvalid and name
// the setting.
func (p Provider) NewSource(v config.Values, hc *http.Client) (poll.Source, error) {
	cfg := configFromValues(v)
	cfg.Backoff = p.Backoff
	s, err := NewSource(cfg, hc, p.Now)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
