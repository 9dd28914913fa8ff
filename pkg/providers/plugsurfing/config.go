package plugsurfing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Defaults of the PLUGSURFING_* settings.
const (
	// DefaultBaseURL is where providersim (and make run) serve the Plugsurfing API by default.
	// The client posts to the base URL exactly as configured, hence the trailing slash.
	DefaultBaseURL          = "http://127.0.0.1:8081/plugsurfing/"
	DefaultStart            = 30 * 24 * time.Hour // the first poll of a user reads this far back
	DefaultWindow           = 7 * 24 * time.Hour
	DefaultSettle           = 5 * time.Minute
	DefaultReread           = 24 * time.Hour
	DefaultUTCOffset        = "+00:00"
	DefaultMaxResponseBytes = 32 << 20
)

// Identifier types the seed lists for user.identifier-type.
const (
	IdentifierEVCOID   = "evco-id"
	IdentifierRFID     = "rfid"
	IdentifierUsername = "username"
	IdentifierToken    = "token"
)

// IdentifierTypes returns the identifier types the API accepts, in the seed's order.
func IdentifierTypes() []string {
	return []string{IdentifierEVCOID, IdentifierRFID, IdentifierUsername, IdentifierToken}
}

// Setting names (flags); the environment variable is the upper-case form with underscores.
const (
	settingBaseURL          = "plugsurfing-base-url"
	settingUsers            = "plugsurfing-users"
	settingTokens           = "plugsurfing-tokens"
	settingStart            = "plugsurfing-start"
	settingWindow           = "plugsurfing-window"
	settingSettle           = "plugsurfing-settle"
	settingReread           = "plugsurfing-reread"
	settingUTCOffset        = "plugsurfing-utc-offset"
	settingMaxResponseBytes = "plugsurfing-max-response-bytes"
)

var utcOffsetRE = regexp.MustCompile(`^([+-])([0-9]{2}):([0-9]{2})$`)

// Settings declares Plugsurfing's configuration: flags --plugsurfing-*, environment
// PLUGSURFING_*, the tokens also from PLUGSURFING_TOKENS_FILE.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: settingBaseURL, Env: "PLUGSURFING_BASE_URL", Kind: config.URL, Default: DefaultBaseURL,
			Usage: "URL every user-get-bills request is POSTed to, exactly as given"},
		{Name: settingUsers, Env: "PLUGSURFING_USERS", Kind: config.List, Required: true,
			Usage: "comma-separated users to poll as <identifier-type>:<identifier> (identifier types evco-id, rfid, username, token); each is one scope"},
		{Name: settingTokens, Env: "PLUGSURFING_TOKENS", Secret: true,
			Usage: "user tokens as <identifier-type>:<identifier>=<token>, separated by commas or line breaks; a user without an entry is sent without token"},
		{Name: settingStart, Env: "PLUGSURFING_START", Default: durationText(DefaultStart),
			Usage: "where the first poll of a user starts: a duration before now (720h), a date (2026-01-01, UTC) or an RFC 3339 time"},
		{Name: settingWindow, Env: "PLUGSURFING_WINDOW", Kind: config.Duration, Default: durationText(DefaultWindow), Min: int64(time.Second),
			Usage: "longest date-interval of one request"},
		{Name: settingSettle, Env: "PLUGSURFING_SETTLE", Kind: config.Duration, Default: durationText(DefaultSettle),
			Usage: "date-intervals end this long before now"},
		{Name: settingReread, Env: "PLUGSURFING_REREAD", Kind: config.Duration, Default: durationText(DefaultReread),
			Usage: "the last part of the timeline re-read every cycle for bills that appear late; the checkpoint never enters it"},
		{Name: settingUTCOffset, Env: "PLUGSURFING_UTC_OFFSET", Default: DefaultUTCOffset,
			Usage: "UTC offset (+hh:mm) the date-interval is written in"},
		{Name: settingMaxResponseBytes, Env: "PLUGSURFING_MAX_RESPONSE_BYTES", Kind: config.Int, Default: strconv.Itoa(DefaultMaxResponseBytes), Min: 1024,
			Usage: "largest response body accepted for one request, in bytes"},
	}
}

// durationText writes d the way time.ParseDuration reads it back, without zero units ("720h").
func durationText(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	s = strings.Replace(s, "h0m", "h", 1)
	return s
}

// User is one customer whose bills are polled: the request's user object.
type User struct {
	IdentifierType string        // IdentifierEVCOID, IdentifierRFID, IdentifierUsername or IdentifierToken
	Identifier     string        // the evco-id, RFID, username or token identifying the customer
	Token          config.Secret // optional: authenticates the user; never printed
}

// key is how the settings name the user: "<identifier-type>:<identifier>".
func (u User) key() string { return u.IdentifierType + ":" + u.Identifier }

// Scope is the user's poll scope, checkpoint key and the invoices' account:
// "<identifier-type>:<identifier>", except for the identifier type token, whose identifier is a
// credential itself: it becomes "token:sha256-" and the first 16 hex digits of its SHA-256.
func (u User) Scope() string {
	if u.IdentifierType == IdentifierToken {
		sum := sha256.Sum256([]byte(u.Identifier))
		return IdentifierToken + ":sha256-" + hex.EncodeToString(sum[:8])
	}
	return u.key()
}

// String is the user's Scope: printing a User never shows a token.
func (u User) String() string { return u.Scope() }

// GoString is the user's Scope too, for %#v.
func (u User) GoString() string { return "plugsurfing.User(" + u.Scope() + ")" }

// Config configures the client and the source. The zero value of every field but Users means
// its default, except Settle and Reread (see there).
type Config struct {
	BaseURL string // the URL requests are POSTed to; default DefaultBaseURL
	Users   []User // required: the scopes
	// Start is where a user without checkpoint starts: a duration before now ("720h"), a date
	// ("2026-01-01", UTC midnight) or an RFC 3339 time; empty means DefaultStart before now.
	Start  string
	Window time.Duration // longest date-interval of one request; default DefaultWindow
	// Settle: date-intervals end this long before now. Zero is meaningful (up to now); the
	// PLUGSURFING_SETTLE default is DefaultSettle.
	Settle time.Duration
	// Reread is the stretch before the interval end that every cycle reads again and the
	// checkpoint never enters, for bills that appear after their date. Zero is meaningful (no
	// re-read); the PLUGSURFING_REREAD default is DefaultReread.
	Reread time.Duration
	// UTCOffset ("+01:00") is the offset the date-interval is written in; default "+00:00".
	UTCOffset        string
	MaxResponseBytes int64 // largest accepted response body; default DefaultMaxResponseBytes
	// Backoff tunes the retries of one request (not a setting); zero uses poll's defaults.
	Backoff poll.Backoff
}

// configFromValues builds the Config of validated settings. The error reports the token
// entries that name no configured user (and similar), wrapping config.ErrInvalid.
func configFromValues(v config.Values) (Config, error) {
	users, err := ParseUsers(v.List(settingUsers), v.Secret(settingTokens))
	return Config{
		BaseURL:          v.String(settingBaseURL),
		Users:            users,
		Start:            v.String(settingStart),
		Window:           v.Duration(settingWindow),
		Settle:           v.Duration(settingSettle),
		Reread:           v.Duration(settingReread),
		UTCOffset:        v.String(settingUTCOffset),
		MaxResponseBytes: int64(v.Int(settingMaxResponseBytes)),
	}, err
}

// ParseUsers reads PLUGSURFING_USERS entries ("<identifier-type>:<identifier>") and gives each
// user its token from PLUGSURFING_TOKENS ("<identifier-type>:<identifier>=<token>" entries
// separated by commas or line breaks). An entry is split at its first colon; whether its
// identifier type is known is for Config.Validate to say. A token entry belongs to the user
// whose "<identifier-type>:<identifier>=" it starts with (the longest such user), so neither an
// identifier nor a token needs escaping. The error (wrapping config.ErrInvalid) lists token
// entries by position, never by content: they hold secrets.
func ParseUsers(entries []string, tokens config.Secret) ([]User, error) {
	users := make([]User, 0, len(entries))
	for _, e := range entries {
		typ, id, _ := strings.Cut(strings.TrimSpace(e), ":")
		users = append(users, User{IdentifierType: typ, Identifier: id})
	}
	var errs []error
	assigned := map[int]bool{}
	for i, entry := range splitTokens(tokens.Reveal()) {
		owner := -1
		for j, u := range users {
			if strings.HasPrefix(entry, u.key()+"=") && (owner < 0 || len(u.key()) > len(users[owner].key())) {
				owner = j
			}
		}
		if owner < 0 {
			errs = append(errs, invalid(settingTokens, "entry %d is not <identifier-type>:<identifier>=<token> for a user in --%s/PLUGSURFING_USERS", i+1, settingUsers))
			continue
		}
		u := &users[owner]
		token := entry[len(u.key())+1:]
		switch {
		case token == "":
			errs = append(errs, invalid(settingTokens, "entry %d gives user %s an empty token", i+1, u.Scope()))
		case assigned[owner]:
			errs = append(errs, invalid(settingTokens, "entry %d gives user %s a second token", i+1, u.Scope()))
		default:
			u.Token = config.Secret(token)
			assigned[owner] = true
		}
	}
	return users, errors.Join(errs...)
}

// splitTokens splits PLUGSURFING_TOKENS at commas and line breaks (a mounted file holds one
// entry per line), dropping blanks.
func splitTokens(s string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Start == "" {
		c.Start = durationText(DefaultStart)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.UTCOffset == "" {
		c.UTCOffset = DefaultUTCOffset
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
}

// Validate reports every problem at once; each error wraps config.ErrInvalid and names the
// setting as operators type it (--plugsurfing-users/PLUGSURFING_USERS …). Zero values stand
// for their defaults. Tokens are never shown, nor the identifier of a token-type user.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, invalid(name, format, a...))
	}
	if err := config.CheckBaseURL(c.BaseURL, "https://api.example/request", false); err != nil {
		bad(settingBaseURL, "%v", err)
	}
	if len(c.Users) == 0 {
		bad(settingUsers, "must list at least one user as <identifier-type>:<identifier>")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		switch {
		case u.IdentifierType == "" && u.Identifier == "":
			bad(settingUsers, "entry %d is empty", i+1)
			continue
		case !validIdentifierType(u.IdentifierType):
			// The entry is not shown: a mistyped "token:" would print a credential.
			bad(settingUsers, "entry %d has identifier type %q; want <identifier-type>:<identifier> with one of %s",
				i+1, poll.SafeText(u.IdentifierType), strings.Join(IdentifierTypes(), ", "))
			continue
		case u.Identifier == "":
			bad(settingUsers, "entry %d (%s:) has an empty identifier", i+1, u.IdentifierType)
			continue
		case !validIdentifier(u.Identifier):
			bad(settingUsers, "entry %d (%s) holds white space or control characters in its identifier", i+1, shownUser(u))
			continue
		case seen[u.key()]:
			bad(settingUsers, "lists %s twice", shownUser(u))
		}
		seen[u.key()] = true
	}
	if _, err := parseStart(c.Start, time.Time{}); err != nil {
		bad(settingStart, "must be a duration before now (720h), a date (2026-01-01) or an RFC 3339 time (2026-01-01T00:00:00+01:00), got %q", poll.SafeText(c.Start))
	}
	if c.Window < time.Second {
		bad(settingWindow, "must be ≥ 1s, got %s", c.Window)
	}
	if c.Settle < 0 {
		bad(settingSettle, "must be ≥ 0, got %s", c.Settle)
	}
	if c.Reread < 0 {
		bad(settingReread, "must be ≥ 0, got %s", c.Reread)
	}
	if _, err := ParseUTCOffset(c.UTCOffset); err != nil {
		bad(settingUTCOffset, "must be an offset like +01:00 or -05:00 (at most ±14:00), got %q", poll.SafeText(c.UTCOffset))
	}
	if c.MaxResponseBytes < 1024 {
		bad(settingMaxResponseBytes, "must be ≥ 1024, got %d", c.MaxResponseBytes)
	}
	return errors.Join(errs...)
}

// shownUser is how an error names a user whose identifier type is valid.
func shownUser(u User) string {
	if u.IdentifierType == IdentifierToken {
		return u.Scope()
	}
	return strconv.Quote(poll.SafeText(u.key()))
}

func validIdentifierType(t string) bool {
	for _, k := range IdentifierTypes() {
		if t == k {
			return true
		}
	}
	return false
}

// validIdentifier: no white space or control characters, so the scope is one clean token in
// logs, KV keys and ce-source.
func validIdentifier(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// parseStart resolves PLUGSURFING_START against now: a duration before now, a date (UTC
// midnight) or an RFC 3339 time. The result is truncated to the second (the API's precision).
func parseStart(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("negative duration")
		}
		return now.Add(-d).Truncate(time.Second), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.Truncate(time.Second), nil
}

// ParseUTCOffset reads "+hh:mm" / "-hh:mm" (at most ±14:00) as a fixed time zone.
func ParseUTCOffset(s string) (*time.Location, error) {
	m := utcOffsetRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not +hh:mm", s)
	}
	h, _ := strconv.Atoi(m[2])
	mm, _ := strconv.Atoi(m[3])
	if h > 14 || mm > 59 || (h == 14 && mm > 0) {
		return nil, fmt.Errorf("%q is beyond ±14:00", s)
	}
	secs := h*3600 + mm*60
	if m[1] == "-" {
		secs = -secs
	}
	return time.FixedZone(s, secs), nil
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
