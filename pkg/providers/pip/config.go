package pip

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Defaults of the PIP_* settings.
const (
	// DefaultBaseURL is where providersim (and make run) serve the PIP API by default.
	DefaultBaseURL = "http://127.0.0.1:8081/pip"
	// DefaultExport is the data export the seed documents (/v1/data-export/posten/invoicing).
	DefaultExport = "posten"
	// DefaultPageSize is the API's documented maximum of records per response.
	DefaultPageSize     = 1000
	DefaultMaxPageBytes = 32 << 20
)

// Token endpoint client authentication styles (RFC 6749 §2.3.1).
const (
	AuthStyleHeader = "header" // HTTP Basic, what RFC 6749 requires servers to support
	AuthStyleParams = "params" // client_id and client_secret in the form body
)

// Setting names (flags); the environment variable is the upper-case form with underscores.
const (
	settingBaseURL      = "pip-base-url"
	settingAccessToken  = "pip-access-token"
	settingTokenURL     = "pip-token-url"
	settingClientID     = "pip-client-id"
	settingClientSecret = "pip-client-secret"
	settingOAuthScopes  = "pip-oauth-scopes"
	settingTokenAuth    = "pip-token-auth-style"
	settingExport       = "pip-export"
	settingPageSize     = "pip-page-size"
	settingStartAfter   = "pip-start-after"
	settingMaxPageBytes = "pip-max-page-bytes"
	settingRecordsField = "pip-records-field"
)

// How errors name the two ways to authenticate.
const (
	staticTokenSettings = "--pip-access-token/PIP_ACCESS_TOKEN"
	clientCredsSettings = "--pip-token-url/PIP_TOKEN_URL, --pip-client-id/PIP_CLIENT_ID and --pip-client-secret/PIP_CLIENT_SECRET"
)

// exportName is what an export's path segment may hold.
var exportName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Settings declares PIP's configuration: flags --pip-*, environment PIP_*, secrets also from
// PIP_*_FILE. Credentials are either a static bearer token (PIP_ACCESS_TOKEN) or OAuth2 client
// credentials (PIP_TOKEN_URL, PIP_CLIENT_ID, PIP_CLIENT_SECRET); Validate demands exactly one.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: settingBaseURL, Env: "PIP_BASE_URL", Kind: config.URL, Default: DefaultBaseURL,
			Usage: "PIP data export API base URL, without /v1/data-export"},
		{Name: settingAccessToken, Env: "PIP_ACCESS_TOKEN", Secret: true,
			Usage: "static OAuth2 bearer token; leave empty to use client credentials"},
		{Name: settingTokenURL, Env: "PIP_TOKEN_URL", Kind: config.URL,
			Usage: "OAuth2 token endpoint for the client credentials grant"},
		{Name: settingClientID, Env: "PIP_CLIENT_ID",
			Usage: "OAuth2 client id (client credentials grant)"},
		{Name: settingClientSecret, Env: "PIP_CLIENT_SECRET", Secret: true,
			Usage: "OAuth2 client secret (client credentials grant)"},
		{Name: settingOAuthScopes, Env: "PIP_OAUTH_SCOPES", Kind: config.List,
			Usage: "comma-separated OAuth2 scopes to request with client credentials (empty: none)"},
		{Name: settingTokenAuth, Env: "PIP_TOKEN_AUTH_STYLE", Default: AuthStyleHeader,
			Usage: "how the client id and secret reach the token endpoint: header (HTTP Basic) or params (form body)"},
		{Name: settingExport, Env: "PIP_EXPORT", Default: DefaultExport,
			Usage: "data export to read (/v1/data-export/<export>/invoicing); it is the poll scope"},
		{Name: settingPageSize, Env: "PIP_PAGE_SIZE", Kind: config.Int, Default: fmt.Sprint(DefaultPageSize), Min: 1,
			Usage: "records in a full page of the API (its documented maximum); a shorter page ends a poll"},
		{Name: settingStartAfter, Env: "PIP_START_AFTER",
			Usage: "completedAfter of the very first poll (ISO 8601, e.g. 2026-01-01T00:00:00Z); empty: from the beginning"},
		{Name: settingMaxPageBytes, Env: "PIP_MAX_PAGE_BYTES", Kind: config.Int, Default: fmt.Sprint(DefaultMaxPageBytes), Min: 1024,
			Usage: "largest response body accepted for one page, in bytes"},
		{Name: settingRecordsField, Env: "PIP_RECORDS_FIELD",
			Usage: "key of the record list in the response body (e.g. sessions); empty: the one array of objects in the body, whatever its key"},
	}
}

// Config configures the client and the source. The zero value of every field but the
// credentials means its default.
type Config struct {
	BaseURL string // default DefaultBaseURL; may carry a path prefix
	// AccessToken is a static bearer token. Set it, or TokenURL, ClientID and ClientSecret.
	AccessToken config.Secret
	// TokenURL, ClientID and ClientSecret configure the OAuth2 client credentials grant; the
	// token is cached and fetched again shortly before it expires.
	TokenURL     string
	ClientID     string
	ClientSecret config.Secret
	Scopes       []string // OAuth2 scopes requested with client credentials
	// TokenAuthStyle is AuthStyleHeader (default) or AuthStyleParams.
	TokenAuthStyle string
	Export         string // default DefaultExport: the path segment and the only scope
	// PageSize is the number of records in a full page; a page with fewer ends the poll.
	// Default DefaultPageSize (the seed's maximum).
	PageSize int
	// StartAfter is the completedAfter of the first poll of a scope without a checkpoint
	// (ISO 8601 date-time); empty means from the beginning.
	StartAfter   string
	MaxPageBytes int64 // largest accepted response body; default DefaultMaxPageBytes
	// RecordsField is the key of the record list in a response body; the seed does not name
	// it. Empty means the body's one array of objects, whatever its key.
	RecordsField string
	// Backoff tunes the retries of one request (not a setting); zero uses poll's defaults.
	Backoff poll.Backoff
}

func configFromValues(v config.Values) Config {
	return Config{
		BaseURL:        v.String(settingBaseURL),
		AccessToken:    v.Secret(settingAccessToken),
		TokenURL:       v.String(settingTokenURL),
		ClientID:       v.String(settingClientID),
		ClientSecret:   v.Secret(settingClientSecret),
		Scopes:         v.List(settingOAuthScopes),
		TokenAuthStyle: v.String(settingTokenAuth),
		Export:         v.String(settingExport),
		PageSize:       v.Int(settingPageSize),
		StartAfter:     v.String(settingStartAfter),
		MaxPageBytes:   int64(v.Int(settingMaxPageBytes)),
		RecordsField:   v.String(settingRecordsField),
	}
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.TokenAuthStyle == "" {
		c.TokenAuthStyle = AuthStyleHeader
	}
	if c.Export == "" {
		c.Export = DefaultExport
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxPageBytes == 0 {
		c.MaxPageBytes = DefaultMaxPageBytes
	}
}

// clientCredentials reports whether the config uses the client credentials grant.
func (c Config) clientCredentials() bool {
	return c.TokenURL != "" || c.ClientID != "" || !c.ClientSecret.IsZero()
}

// Validate reports every problem at once; each error wraps config.ErrInvalid and names the
// setting as operators type it (--pip-client-id/PIP_CLIENT_ID …). Zero values stand for their
// defaults. Secrets are never shown.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, invalid(name, format, a...))
	}
	checkURL := func(name, raw, example string) {
		if err := config.CheckBaseURL(raw, example, true); err != nil {
			bad(name, "%v", err)
		}
	}
	checkURL(settingBaseURL, c.BaseURL, "https://api.pip.mobai.cloud")
	if u, err := url.Parse(c.BaseURL); err == nil && u.RawQuery != "" {
		bad(settingBaseURL, "must not carry a query, got %s", config.Redact(c.BaseURL))
	}
	switch {
	case !c.AccessToken.IsZero() && c.clientCredentials():
		errs = append(errs, fmt.Errorf("%w: %s and %s are both set; configure one way to authenticate",
			config.ErrInvalid, staticTokenSettings, clientCredsSettings))
	case c.AccessToken.IsZero() && !c.clientCredentials():
		errs = append(errs, fmt.Errorf("%w: credentials are required: set %s, or %s", config.ErrInvalid, staticTokenSettings, clientCredsSettings))
	case c.clientCredentials():
		if c.TokenURL == "" {
			bad(settingTokenURL, "is required with client credentials")
		} else {
			checkURL(settingTokenURL, c.TokenURL, "https://auth.example/oauth/token")
		}
		if strings.TrimSpace(c.ClientID) == "" {
			bad(settingClientID, "is required with client credentials")
		}
		if c.ClientSecret.IsZero() {
			bad(settingClientSecret, "is required with client credentials")
		}
	}
	if c.TokenAuthStyle != AuthStyleHeader && c.TokenAuthStyle != AuthStyleParams {
		bad(settingTokenAuth, "must be %s or %s, got %q", AuthStyleHeader, AuthStyleParams, c.TokenAuthStyle)
	}
	if !exportName.MatchString(c.Export) {
		bad(settingExport, "must be a lower-case path segment like posten, got %q", c.Export)
	}
	if c.PageSize < 1 {
		bad(settingPageSize, "must be ≥ 1, got %d", c.PageSize)
	}
	if c.StartAfter != "" {
		if _, err := parseTime(c.StartAfter); err != nil {
			bad(settingStartAfter, "must be an ISO 8601 date-time like 2026-01-01T00:00:00Z, got %q", c.StartAfter)
		}
	}
	if c.MaxPageBytes < 1024 {
		bad(settingMaxPageBytes, "must be ≥ 1024, got %d", c.MaxPageBytes)
	}
	if c.RecordsField == fieldExportedThrough {
		bad(settingRecordsField, "must name the record list, not the cursor field %s", fieldExportedThrough)
	}
	return errors.Join(errs...)
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
