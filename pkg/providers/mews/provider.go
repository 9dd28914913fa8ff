package mews

import (
	"net/http"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Name is the provider's label: raw.mews.*, MEWS_* settings, the provider column.
const Name = "mews"

// Provider is the Mews integration as pkg/providers lists it. The zero value is ready to use;
// the fields exist for tests and tools that need to steer time and retries.
type Provider struct {
	// Now is the source's clock: it decides where an export window ends (EndLag before now) and
	// how old a file URL is. Nil means time.Now.
	Now func() time.Time
	// Backoff tunes the retries of one API call or file download; zero uses poll's defaults.
	Backoff poll.Backoff
	// ExportWait tunes the status polls while an export is Pending or Processing; zero uses
	// DefaultExportWait.
	ExportWait poll.Backoff
}

// Name returns "mews".
func (Provider) Name() string { return Name }

// Settings declares the MEWS_* settings.
func (Provider) Settings() []config.Setting { return Settings() }

// NewSource builds the poll source from validated settings (Load with Settings()); hc carries
// the HTTP timeouts (nil: a client with a 60s timeout). For file downloads the timeout bounds
// silence, not the whole transfer (see NewClient). Problems wrap config.ErrInvalid and name the
// setting.
func (p Provider) NewSource(v config.Values, hc *http.Client) (poll.Source, error) {
	cfg := configFromValues(v)
	cfg.Backoff = p.Backoff
	cfg.ExportWait = p.ExportWait
	s, err := NewSource(cfg, hc, p.Now)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
