package bemo

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Defaults of the BEMO_* settings.
const (
	// DefaultBaseURL is where providersim (and make run) serve the Be-Mo API by default.
	DefaultBaseURL      = "http://127.0.0.1:8081/bemo"
	DefaultPageSize     = 100
	DefaultSettleDays   = 1
	DefaultStartDays    = 30 // the first poll starts this many days before today
	DefaultMaxPageBytes = 32 << 20
)

// dateLayout is the API's date format (from, to, lastCreated, the checkpoint's dates).
const dateLayout = "2006-01-02"

// Setting names (flags); the environment variable is the upper-case form with underscores.
const (
	settingBaseURL         = "bemo-base-url"
	settingAccessToken     = "bemo-access-token"
	settingSubscriptionKey = "bemo-subscription-key"
	settingAccounts        = "bemo-accounts"
	settingPageSize        = "bemo-page-size"
	settingStartDate       = "bemo-start-date"
	settingSettleDays      = "bemo-settle-days"
	settingMaxPageBytes    = "bemo-max-page-bytes"
)

// Settings declares Be-Mo's configuration: flags --bemo-*, environment BEMO_*, secrets also
// from BEMO_*_FILE.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: settingBaseURL, Env: "BEMO_BASE_URL", Kind: config.URL, Default: DefaultBaseURL,
			Usage: "Be-Mo API base URL, without /reporting/v1/api"},
		{Name: settingAccessToken, Env: "BEMO_ACCESS_TOKEN", Secret: true, Required: true,
			Usage: "access token (JWT) sent as the Authorization header"},
		{Name: settingSubscriptionKey, Env: "BEMO_SUBSCRIPTION_KEY", Secret: true, Required: true,
			Usage: "subscription key sent as the Api-Subscription-Key header"},
		{Name: settingAccounts, Env: "BEMO_ACCOUNTS", Kind: config.List, Required: true,
			Usage: "comma-separated account ids to poll; each is one scope"},
		{Name: settingPageSize, Env: "BEMO_PAGE_SIZE", Kind: config.Int, Default: fmt.Sprint(DefaultPageSize), Min: 1,
			Usage: "sessions per page (the API's limit parameter)"},
		{Name: settingStartDate, Env: "BEMO_START_DATE",
			Usage: "first day (YYYY-MM-DD, UTC) the first poll of an account reads; empty: 30 days before today"},
		{Name: settingSettleDays, Env: "BEMO_SETTLE_DAYS", Kind: config.Int, Default: fmt.Sprint(DefaultSettleDays),
			Usage: "days before today that stay open and are re-read every cycle; sessions created later come by the lastCreated sweep"},
		{Name: settingMaxPageBytes, Env: "BEMO_MAX_PAGE_BYTES", Kind: config.Int, Default: fmt.Sprint(DefaultMaxPageBytes), Min: 1024,
			Usage: "largest response body accepted for one page, in bytes"},
	}
}

// Config configures the client and the source. The zero value of every field but the
// credentials and Accounts means its default.
type Config struct {
	BaseURL         string        // default DefaultBaseURL; may carry a path prefix
	AccessToken     config.Secret // required
	SubscriptionKey config.Secret // required
	Accounts        []string      // required: the scopes
	PageSize        int           // the limit parameter; default DefaultPageSize
	// StartDate (YYYY-MM-DD) is the first day an account without checkpoint reads; empty means
	// DefaultStartDays days before today.
	StartDate string
	// SettleDays is how many days before today stay open (re-read every poll); what Be-Mo creates
	// for a day after it closed comes by the lastCreated sweep. Unlike the other fields its zero
	// value is meaningful (only today is re-read); the BEMO_SETTLE_DAYS default is
	// DefaultSettleDays.
	SettleDays   int
	MaxPageBytes int64 // largest accepted response body; default DefaultMaxPageBytes
	// Backoff tunes the retries of one page request (not a setting); zero uses poll's defaults.
	Backoff poll.Backoff
}

func configFromValues(v config.Values) Config {
	return Config{
		BaseURL:         v.String(settingBaseURL),
		AccessToken:     v.Secret(settingAccessToken),
		SubscriptionKey: v.Secret(settingSubscriptionKey),
		Accounts:        v.List(settingAccounts),
		PageSize:        v.Int(settingPageSize),
		StartDate:       v.String(settingStartDate),
		SettleDays:      v.Int(settingSettleDays),
		MaxPageBytes:    int64(v.Int(settingMaxPageBytes)),
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
// setting as operators type it (--bemo-accounts/BEMO_ACCOUNTS …). Zero values stand for their
// defaults. Secrets are never shown.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, invalid(name, format, a...))
	}
	if err := config.CheckBaseURL(c.BaseURL, "https://gateway.example", false); err != nil {
		bad(settingBaseURL, "%v", err)
	}
	if c.AccessToken.IsZero() {
		bad(settingAccessToken, "is required")
	}
	if c.SubscriptionKey.IsZero() {
		bad(settingSubscriptionKey, "is required")
	}
	if len(c.Accounts) == 0 {
		bad(settingAccounts, "must list at least one account")
	}
	seen := map[string]bool{}
	for _, a := range c.Accounts {
		switch {
		case strings.TrimSpace(a) == "":
			bad(settingAccounts, "must not hold an empty account id")
		case seen[a]:
			bad(settingAccounts, "lists %q twice", a)
		}
		seen[a] = true
	}
	if c.PageSize < 1 {
		bad(settingPageSize, "must be ≥ 1, got %d", c.PageSize)
	}
	if c.StartDate != "" {
		if _, err := time.Parse(dateLayout, c.StartDate); err != nil {
			bad(settingStartDate, "must be a date like 2026-11-20 (YYYY-MM-DD), got %q", c.StartDate)
		}
	}
	if c.SettleDays < 0 {
		bad(settingSettleDays, "must be ≥ 0, got %d", c.SettleDays)
	}
	if c.MaxPageBytes < 1024 {
		bad(settingMaxPageBytes, "must be ≥ 1024, got %d", c.MaxPageBytes)
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
