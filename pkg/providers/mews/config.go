package mews

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Defaults and limits of the MEWS_* settings.
const (
	// DefaultBaseURL is where providersim (and make run) serve the Mews API by default.
	DefaultBaseURL = "http://127.0.0.1:8081/mews"
	// DefaultClient is the Client name sent with every request.
	DefaultClient = "chargeline"
	// DefaultStartDays: a scope without checkpoint and without MEWS_START starts this many days
	// before its first poll.
	DefaultStartDays = 30
	// MinEndLag is the seed's rule: the UpdatedUtc interval must end no later than 5 minutes in
	// the past. DefaultEndLag adds a minute for clock skew between us and Mews.
	MinEndLag     = 5 * time.Minute
	DefaultEndLag = 6 * time.Minute
	// MaxWindow is the seed's rule: the UpdatedUtc interval spans at most 180 days.
	MaxWindow = 180 * 24 * time.Hour
	// DefaultMinWindow is the shortest window a caught-up scope exports: polling every minute
	// must not start an export per minute.
	DefaultMinWindow    = 15 * time.Minute
	DefaultMaxLineBytes = 16 << 20
	// MaxScopeIDs is the seed's limit on EnterpriseIds and ChainIds.
	MaxScopeIDs = 1000
)

// DefaultExportWait paces the status polls of an export that is Pending or Processing: up to
// 60 getAll calls, 1s growing to 30s apart (with full jitter, roughly a quarter of an hour). An
// export still running after that is resumed by the next poll.
var DefaultExportWait = poll.Backoff{Initial: time.Second, Max: 30 * time.Second, MaxAttempts: 60}

// Entity types the exports offer (the seed's "Exported entity type"), in the seed's order.
const (
	EntityOrderItem              = "OrderItem"
	EntityPayment                = "Payment"
	EntityReservation            = "Reservation"
	EntityCustomer               = "Customer"
	EntityCompany                = "Company"
	EntityBill                   = "Bill"
	EntityAvailabilityAdjustment = "AvailabilityAdjustment"
	EntityAvailabilityBlock      = "AvailabilityBlock"
	EntityResourceBlock          = "ResourceBlock"
	EntityLedgerEntry            = "LedgerEntry"
)

// EntityTypes returns every entity type the exports offer, in the seed's order.
func EntityTypes() []string {
	return []string{
		EntityOrderItem, EntityPayment, EntityReservation, EntityCustomer, EntityCompany, EntityBill,
		EntityAvailabilityAdjustment, EntityAvailabilityBlock, EntityResourceBlock, EntityLedgerEntry,
	}
}

// Resource is the raw.mews.<resource> token of an entity type: its name in lower case
// ("Bill" → "bill").
func Resource(entityType string) string { return strings.ToLower(entityType) }

// startLayouts are the accepted forms of MEWS_START.
var startLayouts = []string{time.RFC3339Nano, "2006-01-02"}

// guid is the form of Mews identifiers (EnterpriseIds, ChainIds).
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Setting names (flags); the environment variable is the upper-case form with underscores.
const (
	settingBaseURL       = "mews-base-url"
	settingClientToken   = "mews-client-token"
	settingAccessToken   = "mews-access-token"
	settingClient        = "mews-client"
	settingEntityTypes   = "mews-entity-types"
	settingEnterpriseIDs = "mews-enterprise-ids"
	settingChainIDs      = "mews-chain-ids"
	settingStart         = "mews-start"
	settingEndLag        = "mews-end-lag"
	settingMinWindow     = "mews-min-window"
	settingMaxWindow     = "mews-max-window"
	settingMaxLineBytes  = "mews-max-line-bytes"
	settingHTTPFileHosts = "mews-http-file-hosts"
)

// Settings declares the Mews configuration: flags --mews-*, environment MEWS_*, secrets also
// from MEWS_*_FILE.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: settingBaseURL, Env: "MEWS_BASE_URL", Kind: config.URL, Default: DefaultBaseURL,
			Usage: "Mews platform address, without /api/connector/v1"},
		{Name: settingClientToken, Env: "MEWS_CLIENT_TOKEN", Secret: true, Required: true,
			Usage: "ClientToken of the client application"},
		{Name: settingAccessToken, Env: "MEWS_ACCESS_TOKEN", Secret: true, Required: true,
			Usage: "AccessToken of the client application (portfolio tokens work)"},
		{Name: settingClient, Env: "MEWS_CLIENT", Default: DefaultClient,
			Usage: "Client: name and version of the client application sent with every request"},
		{Name: settingEntityTypes, Env: "MEWS_ENTITY_TYPES", Kind: config.List, Default: strings.Join(EntityTypes(), ","),
			Usage: "entity types to export, each one scope (" + strings.Join(EntityTypes(), ", ") + ")"},
		{Name: settingEnterpriseIDs, Env: "MEWS_ENTERPRISE_IDS", Kind: config.List,
			Usage: "enterprise ids of the export scope (at most 1000); empty: every enterprise the token reaches"},
		{Name: settingChainIDs, Env: "MEWS_CHAIN_IDS", Kind: config.List,
			Usage: "chain ids of the export scope (at most 1000); empty: every chain the token reaches"},
		{Name: settingStart, Env: "MEWS_START",
			Usage: "start of the first UpdatedUtc window (RFC 3339 or YYYY-MM-DD, UTC); empty: 30 days before the first poll"},
		{Name: settingEndLag, Env: "MEWS_END_LAG", Kind: config.Duration, Default: DefaultEndLag.String(), Min: int64(MinEndLag),
			Usage: "how far in the past an export window ends (Mews demands at least 5m)"},
		{Name: settingMinWindow, Env: "MEWS_MIN_WINDOW", Kind: config.Duration, Default: DefaultMinWindow.String(),
			Usage: "shortest UpdatedUtc window a caught-up scope exports"},
		{Name: settingMaxWindow, Env: "MEWS_MAX_WINDOW", Kind: config.Duration, Default: MaxWindow.String(), Min: int64(time.Hour),
			Usage: "longest UpdatedUtc window of one export (at most 4320h, the seed's 180 days); longer backfills are split"},
		{Name: settingHTTPFileHosts, Env: "MEWS_HTTP_FILE_HOSTS", Kind: config.List,
			Usage: "hosts (host or host:port) whose export file URLs may be plain http; every other file URL must be https"},
		{Name: settingMaxLineBytes, Env: "MEWS_MAX_LINE_BYTES", Kind: config.Int, Default: fmt.Sprint(DefaultMaxLineBytes), Min: 1024,
			Usage: "longest JSON line (one entity) accepted from an export file, in bytes"},
	}
}

// Config configures the client and the source. The zero value of every field but the
// credentials means its default.
type Config struct {
	BaseURL     string        // default DefaultBaseURL; may carry a path prefix
	ClientToken config.Secret // required
	AccessToken config.Secret // required
	Client      string        // default DefaultClient
	// EntityTypes are the scopes, spelled as the seed spells them (a case-insensitive match is
	// accepted and normalised); default EntityTypes().
	EntityTypes   []string
	EnterpriseIDs []string // export Scope.EnterpriseIds; empty: omitted
	ChainIDs      []string // export Scope.ChainIds; empty: omitted
	// Start (RFC 3339 or YYYY-MM-DD) begins the first window of a scope without checkpoint;
	// empty means DefaultStartDays days before the first poll.
	Start        string
	EndLag       time.Duration // default DefaultEndLag; at least MinEndLag
	MinWindow    time.Duration // default DefaultMinWindow
	MaxWindow    time.Duration // default (and at most) MaxWindow
	MaxLineBytes int64         // default DefaultMaxLineBytes
	// HTTPFileHosts are the hosts (host or host:port) whose export file URLs may be plain http
	// (the simulator's); every other file URL must be https.
	HTTPFileHosts []string
	// Backoff tunes the retries of one API call or file download (not a setting); zero uses
	// poll's defaults.
	Backoff poll.Backoff
	// ExportWait paces the status polls of a running export (not a setting); zero uses
	// DefaultExportWait.
	ExportWait poll.Backoff
}

func configFromValues(v config.Values) Config {
	return Config{
		BaseURL:       v.String(settingBaseURL),
		ClientToken:   v.Secret(settingClientToken),
		AccessToken:   v.Secret(settingAccessToken),
		Client:        v.String(settingClient),
		EntityTypes:   v.List(settingEntityTypes),
		EnterpriseIDs: v.List(settingEnterpriseIDs),
		ChainIDs:      v.List(settingChainIDs),
		Start:         v.String(settingStart),
		EndLag:        v.Duration(settingEndLag),
		MinWindow:     v.Duration(settingMinWindow),
		MaxWindow:     v.Duration(settingMaxWindow),
		MaxLineBytes:  int64(v.Int(settingMaxLineBytes)),
		HTTPFileHosts: v.List(settingHTTPFileHosts),
	}
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Client == "" {
		c.Client = DefaultClient
	}
	if len(c.EntityTypes) == 0 {
		c.EntityTypes = EntityTypes()
	} else {
		norm := make([]string, len(c.EntityTypes))
		for i, et := range c.EntityTypes {
			norm[i] = canonicalEntityType(et)
		}
		c.EntityTypes = norm
	}
	if c.EndLag == 0 {
		c.EndLag = DefaultEndLag
	}
	if c.MinWindow == 0 {
		c.MinWindow = DefaultMinWindow
	}
	if c.MaxWindow == 0 {
		c.MaxWindow = MaxWindow
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.ExportWait == (poll.Backoff{}) {
		c.ExportWait = DefaultExportWait
	}
}

// canonicalEntityType returns the seed's spelling of et when it names an entity type in any
// case, else et unchanged (Validate reports it).
func canonicalEntityType(et string) string {
	for _, known := range EntityTypes() {
		if strings.EqualFold(strings.TrimSpace(et), known) {
			return known
		}
	}
	return et
}

// Validate reports every problem at once; each error wraps config.ErrInvalid and names the
// setting as operators type it (--mews-entity-types/MEWS_ENTITY_TYPES …). Zero values stand for
// their defaults. Secrets are never shown.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, invalid(name, format, a...))
	}
	if err := config.CheckBaseURL(c.BaseURL, "https://api.mews.com", false); err != nil {
		bad(settingBaseURL, "%v", err)
	}
	for _, h := range c.HTTPFileHosts {
		if h == "" || strings.ContainsAny(h, "/@?# ") {
			bad(settingHTTPFileHosts, "lists %q, which is not a host or host:port", poll.SafeText(h))
		}
	}
	if c.ClientToken.IsZero() {
		bad(settingClientToken, "is required")
	}
	if c.AccessToken.IsZero() {
		bad(settingAccessToken, "is required")
	}
	if strings.TrimSpace(c.Client) == "" {
		bad(settingClient, "must not be blank")
	}
	seen := map[string]bool{}
	for _, et := range c.EntityTypes {
		switch {
		case !isEntityType(et):
			bad(settingEntityTypes, "lists %q, which is not an export entity type (%s)", poll.SafeText(et), strings.Join(EntityTypes(), ", "))
		case seen[et]:
			bad(settingEntityTypes, "lists %s twice", et)
		}
		seen[et] = true
	}
	checkIDs := func(name string, ids []string) {
		if len(ids) > MaxScopeIDs {
			bad(name, "lists %d ids; Mews accepts at most %d", len(ids), MaxScopeIDs)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			switch {
			case !guid.MatchString(id):
				bad(name, "lists %q, which is not a Mews id (a GUID like 3fa85f64-5717-4562-b3fc-2c963f66afa6)", poll.SafeText(id))
			case seen[strings.ToLower(id)]:
				bad(name, "lists %s twice", id)
			}
			seen[strings.ToLower(id)] = true
		}
	}
	checkIDs(settingEnterpriseIDs, c.EnterpriseIDs)
	checkIDs(settingChainIDs, c.ChainIDs)
	if c.Start != "" {
		if _, err := parseStart(c.Start); err != nil {
			bad(settingStart, "must be an RFC 3339 time like 2026-11-20T00:00:00Z or a date like 2026-11-20, got %q", poll.SafeText(c.Start))
		}
	}
	if c.EndLag < MinEndLag {
		bad(settingEndLag, "must be ≥ %s (an export window must end at least 5 minutes in the past), got %s", MinEndLag, c.EndLag)
	}
	if c.MinWindow < 0 {
		bad(settingMinWindow, "must be ≥ 0, got %s", c.MinWindow)
	}
	if c.MaxWindow < time.Hour || c.MaxWindow > MaxWindow {
		bad(settingMaxWindow, "must be between 1h and %s (180 days), got %s", MaxWindow, c.MaxWindow)
	}
	if c.MaxLineBytes < 1024 {
		bad(settingMaxLineBytes, "must be ≥ 1024, got %d", c.MaxLineBytes)
	}
	return errors.Join(errs...)
}

func isEntityType(et string) bool {
	for _, known := range EntityTypes() {
		if et == known {
			return true
		}
	}
	return false
}

// parseStart reads MEWS_START as UTC, truncated to whole seconds (the windows' resolution).
func parseStart(s string) (time.Time, error) {
	var err error
	for _, layout := range startLayouts {
		var t time.Time
		if t, err = time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC().Truncate(time.Second), nil
		}
	}
	return time.Time{}, err
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
