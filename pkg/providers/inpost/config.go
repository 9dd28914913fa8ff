package inpost

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Defaults of the INPOST_* settings.
const (
	// DefaultBaseURL is where providersim (and make run) serve the ShipX API by default.
	DefaultBaseURL      = "http://127.0.0.1:8081/inpost"
	DefaultPageSize     = 100
	DefaultMaxPageBytes = 16 << 20
)

// Setting names (flags); the environment variable is the upper-case form with underscores.
const (
	settingBaseURL       = "inpost-base-url"
	settingAccessToken   = "inpost-access-token"
	settingOrganizations = "inpost-organizations"
	settingPageSize      = "inpost-page-size"
	settingMaxPageBytes  = "inpost-max-page-bytes"
)

// Settings declares InPost's configuration: flags --inpost-*, environment INPOST_*, the token
// also from INPOST_ACCESS_TOKEN_FILE.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: settingBaseURL, Env: "INPOST_BASE_URL", Kind: config.URL, Default: DefaultBaseURL,
			Usage: "ShipX API base URL, without /v1 (production: https://api-shipx-pl.easypack24.net)"},
		{Name: settingAccessToken, Env: "INPOST_ACCESS_TOKEN", Secret: true, Required: true,
			Usage: "ShipX access token, sent as Authorization: Bearer <token>"},
		{Name: settingOrganizations, Env: "INPOST_ORGANIZATIONS", Kind: config.List, Required: true,
			Usage: "comma-separated ShipX organization ids whose MPKs (cost centres) are polled; each is one scope"},
		{Name: settingPageSize, Env: "INPOST_PAGE_SIZE", Kind: config.Int, Default: fmt.Sprint(DefaultPageSize), Min: 1,
			Usage: "MPKs per page (the API's per_page parameter)"},
		{Name: settingMaxPageBytes, Env: "INPOST_MAX_PAGE_BYTES", Kind: config.Int, Default: fmt.Sprint(DefaultMaxPageBytes), Min: 1024,
			Usage: "largest response body accepted for one page, in bytes"},
	}
}

// Config configures the client and the source. The zero value of every field but AccessToken
// and Organizations means its default.
type Config struct {
	BaseURL     string        // default DefaultBaseURL; may carry a path prefix
	AccessToken config.Secret // required; a leading "Bearer " is accepted and not doubled
	// Organizations are the ShipX organization ids (decimal integers) to poll: the scopes.
	Organizations []string
	PageSize      int   // the per_page parameter; default DefaultPageSize
	MaxPageBytes  int64 // largest accepted response body; default DefaultMaxPageBytes
	// Backoff tunes the retries of one request (not a setting); zero uses poll's defaults.
	Backoff poll.Backoff
}

func configFromValues(v config.Values) Config {
	return Config{
		BaseURL:       v.String(settingBaseURL),
		AccessToken:   v.Secret(settingAccessToken),
		Organizations: v.List(settingOrganizations),
		PageSize:      v.Int(settingPageSize),
		MaxPageBytes:  int64(v.Int(settingMaxPageBytes)),
	}
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxPageBytes == 0 {
		c.MaxPageBytes = DefaultMaxPageBytes
	}
}

// Validate reports every problem at once; each error wraps config.ErrInvalid and names the
// setting as operators type it (--inpost-organizations/INPOST_ORGANIZATIONS …). Zero values
// stand for their defaults. The token is never shown.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, invalid(name, format, a...))
	}
	if err := config.CheckBaseURL(c.BaseURL, "https://api-shipx-pl.easypack24.net", false); err != nil {
		bad(settingBaseURL, "%v", err)
	}
	if strings.TrimSpace(bearerToken(c.AccessToken)) == "" {
		bad(settingAccessToken, "is required")
	}
	if len(c.Organizations) == 0 {
		bad(settingOrganizations, "must list at least one organization id")
	}
	seen := map[string]bool{}
	for _, org := range c.Organizations {
		switch {
		case !isOrganizationID(org):
			bad(settingOrganizations, "must hold ShipX organization ids (decimal integers like 1234), got %q", org)
		case seen[org]:
			bad(settingOrganizations, "lists %q twice", org)
		}
		seen[org] = true
	}
	if c.PageSize < 1 {
		bad(settingPageSize, "must be ≥ 1, got %d", c.PageSize)
	}
	if c.MaxPageBytes < 1024 {
		bad(settingMaxPageBytes, "must be ≥ 1024, got %d", c.MaxPageBytes)
	}
	return errors.Join(errs...)
}

// isOrganizationID reports whether s is a ShipX organization id: 1 to 19 decimal digits (an
// integer in the path /v1/organizations/:organization_id, safe as a scope and a NATS token).
func isOrganizationID(s string) bool {
	if len(s) == 0 || len(s) > 19 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// bearerToken is the token without a "Bearer " prefix an operator may have copied with it.
func bearerToken(s config.Secret) string {
	t := strings.TrimSpace(s.Reveal())
	if len(t) >= 6 && strings.EqualFold(t[:6], "bearer") && (len(t) == 6 || t[6] == ' ') {
		t = strings.TrimSpace(t[6:])
	}
	return t
}

// invalid formats a problem exactly like config.Values.Invalid does, so a Config built without
// Values (tests, tools) reports the same text.
func invalid(name, format string, a ...any) error {
	label := "--" + name
	for _, s := range Settings() {
		if s.Name == name {
			label += "/" + s.Env
		}
	}
	return fmt.Errorf("%w: %s %s", config.ErrInvalid, label, fmt.Sprintf(format, a...))
}
