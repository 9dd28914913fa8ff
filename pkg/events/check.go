package events

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// The Check methods enforce what an event's JSON Schema (schemas/events) asks beyond what its Go
// type already guarantees (the properties, their JSON types, no others): required values,
// patterns, formats and ranges. They decide as the schema does — the differential fuzz test in
// schemas/events holds them to it — at a hundredth of the cost of validating the encoded JSON,
// which was a third of the normalizer's CPU in `make bench`.

// Check reports the first rule of charging_session.v1 that cs breaks.
func (cs ChargingSession) Check() error {
	c := checker{}
	c.head(cs.SchemaVersion, cs.ID, cs.Provider, cs.SourceID)
	c.optional("started_at", cs.StartedAt, timestamp)
	c.optional("ended_at", cs.EndedAt, timestamp)
	if cs.DurationSeconds != nil && *cs.DurationSeconds < 0 {
		c.fail("duration_seconds", "%d is negative", *cs.DurationSeconds)
	}
	if l := cs.Location; l != nil {
		c.optional("location.country_code", l.CountryCode, countryCode)
		if l.Latitude != nil && (*l.Latitude < -90 || *l.Latitude > 90) {
			c.fail("location.latitude", "%v is outside [-90, 90]", *l.Latitude)
		}
		if l.Longitude != nil && (*l.Longitude < -180 || *l.Longitude > 180) {
			c.fail("location.longitude", "%v is outside [-180, 180]", *l.Longitude)
		}
	}
	if cs.Token != nil && cs.Token.Type == "" {
		c.fail("token.type", "is empty")
	}
	c.optional("quantity", cs.Quantity, decimal)
	c.optional("energy_kwh", cs.EnergyKWh, decimal)
	c.lineItems(cs.LineItems)
	c.optional("total_amount", cs.TotalAmount, decimal)
	c.optional("currency", cs.Currency, currency)
	c.optional("source_updated_at", cs.SourceUpdatedAt, timestamp)
	c.lineage(cs.Lineage)
	return c.err
}

// Check reports the first rule of invoice.v1 that inv breaks.
func (inv Invoice) Check() error {
	c := checker{}
	c.head(inv.SchemaVersion, inv.ID, inv.Provider, inv.SourceID)
	c.optional("issued_at", inv.IssuedAt, timestamp)
	c.optional("period_start", inv.PeriodStart, timestamp)
	c.optional("period_end", inv.PeriodEnd, timestamp)
	c.optional("total_amount", inv.TotalAmount, decimal)
	c.optional("total_net", inv.TotalNet, decimal)
	c.optional("total_gross", inv.TotalGross, decimal)
	c.optional("currency", inv.Currency, currency)
	c.lineItems(inv.LineItems)
	if inv.SessionIDs == nil {
		c.fail("session_ids", "is null, want an array")
	}
	for i, id := range inv.SessionIDs {
		if c.err == nil && canonicalID(id) != nil {
			c.required(fmt.Sprintf("session_ids[%d]", i), id, canonicalID)
		}
	}
	c.optional("document_url", inv.DocumentURL, absoluteURI)
	c.optional("source_updated_at", inv.SourceUpdatedAt, timestamp)
	c.lineage(inv.Lineage)
	return c.err
}

// Check reports the first rule of cost_center.v1 that cc breaks.
func (cc CostCenter) Check() error {
	c := checker{}
	c.head(cc.SchemaVersion, cc.ID, cc.Provider, cc.SourceID)
	c.required("organization_id", cc.OrganizationID, nonEmpty)
	c.required("name", cc.Name, func(s string) error {
		if n := utf8.RuneCountInString(s); n < 1 || n > 255 {
			return fmt.Errorf("has %d characters, want 1 to 255", n)
		}
		return nil
	})
	c.optional("created_at", cc.CreatedAt, timestamp)
	c.optional("updated_at", cc.UpdatedAt, timestamp)
	c.lineage(cc.Lineage)
	return c.err
}

// Check reports the first rule of invoice_line.v1 that il breaks.
func (il InvoiceLine) Check() error {
	c := checker{}
	c.head(il.SchemaVersion, il.ID, il.Provider, il.SourceID)
	c.optional("invoice_id", il.InvoiceID, canonicalID)
	c.optional("quantity", il.Quantity, decimal)
	c.optional("unit_price", il.UnitPrice, decimal)
	c.required("amount", il.Amount, decimal)
	c.optional("net_amount", il.NetAmount, decimal)
	c.optional("gross_amount", il.GrossAmount, decimal)
	c.required("currency", il.Currency, currency)
	c.optional("time", il.Time, timestamp)
	c.optional("source_updated_at", il.SourceUpdatedAt, timestamp)
	c.lineage(il.Lineage)
	return c.err
}

// checker keeps the first failure.
type checker struct{ err error }

func (c *checker) fail(field, format string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...))
	}
}

// required checks a value that is always encoded (no omitempty).
func (c *checker) required(field, v string, rule func(string) error) {
	if c.err != nil {
		return
	}
	if err := rule(v); err != nil {
		c.fail(field, "%q %v", shorten(v), err)
	}
}

// optional checks a value that is left out of the JSON when empty.
func (c *checker) optional(field, v string, rule func(string) error) {
	if v != "" {
		c.required(field, v, rule)
	}
}

// head checks the properties every event type starts with.
func (c *checker) head(version, id, provider, sourceID string) {
	if version != SchemaVersion {
		c.fail("schema_version", "%q, want %q", shorten(version), SchemaVersion)
	}
	c.required("id", id, canonicalID)
	c.required("provider", provider, providerName)
	c.required("source_id", sourceID, nonEmpty)
}

func (c *checker) lineItems(items []LineItem) {
	if items == nil {
		c.fail("line_items", "is null, want an array")
	}
	for i, li := range items {
		// Field names are formatted only on failure: this runs for every line item.
		item := checker{}
		item.optional("quantity", li.Quantity, decimal)
		item.optional("unit_price", li.UnitPrice, decimal)
		item.required("amount", li.Amount, decimal)
		item.required("currency", li.Currency, currency)
		item.optional("time", li.Time, timestamp)
		if item.err != nil && c.err == nil {
			c.err = fmt.Errorf("line_items[%d].%w", i, item.err)
		}
	}
}

func (c *checker) lineage(l Lineage) {
	c.required("lineage.raw_id", l.RawID, nonEmpty)
	c.required("lineage.raw_stream", l.RawStream, nonEmpty)
	if l.RawSequence < 1 {
		c.fail("lineage.raw_sequence", "is 0, want ≥ 1")
	}
	c.required("lineage.raw_subject", l.RawSubject, nonEmpty)
}

var errEmpty = errors.New("is empty")

func nonEmpty(s string) error {
	if s == "" {
		return errEmpty
	}
	return nil
}

// decimal: ^-?[0-9]+(\.[0-9]+)?$
func decimal(s string) error {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	if !digits(whole) || (dot && !digits(frac)) {
		return errors.New("is not a decimal string")
	}
	return nil
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var (
	currency    = upper(3)
	countryCode = upper(2)
)

// upper returns the rule ^[A-Z]{n}$ (ISO 4217 currency: 3, ISO 3166-1 country: 2).
func upper(n int) func(string) error {
	return func(s string) error {
		ok := len(s) == n
		for i := 0; ok && i < len(s); i++ {
			ok = s[i] >= 'A' && s[i] <= 'Z'
		}
		if !ok {
			return fmt.Errorf("is not %d upper-case letters", n)
		}
		return nil
	}
}

// providerName: ^[a-z][a-z0-9_-]*$
func providerName(s string) error {
	if !label(s) {
		return errors.New("is not a provider label ([a-z][a-z0-9_-]*)")
	}
	return nil
}

func label(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// canonicalID: ^[a-z][a-z0-9_-]*:.+$ — in the schema's regular expressions "." matches any
// character but a newline.
func canonicalID(s string) error {
	p, rest, ok := strings.Cut(s, ":")
	if !ok || !label(p) || rest == "" || strings.Contains(rest, "\n") {
		return errors.New(`is not a canonical id ("<provider>:<source id>")`)
	}
	return nil
}

// timestamp: the pattern ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ and
// the format date-time (RFC 3339: a real date, hours ≤ 23, minutes ≤ 59, a leap second only
// at 23:59:60).
func timestamp(s string) error {
	bad := errors.New("is not an RFC 3339 UTC time (YYYY-MM-DDThh:mm:ss[.fff]Z)")
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return bad
	}
	for _, p := range []string{s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19]} {
		if !digits(p) {
			return bad
		}
	}
	if frac := s[19 : len(s)-1]; frac != "" && (frac[0] != '.' || !digits(frac[1:])) {
		return bad
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return bad
	}
	h, m, sec := atoi2(s[11:13]), atoi2(s[14:16]), atoi2(s[17:19])
	if h > 23 || m > 59 || sec > 60 || (sec == 60 && (h != 23 || m != 59)) {
		return bad
	}
	return nil
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// absoluteURI: the format uri — an absolute URI, an IPv6 host in brackets.
func absoluteURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URI")
	}
	if !u.IsAbs() {
		return errors.New("is not an absolute URI")
	}
	if h := u.Hostname(); strings.Contains(h, ":") {
		addr, err := netip.ParseAddr(h)
		if !strings.Contains(u.Host, "[") || !strings.Contains(u.Host, "]") || err != nil || addr.Zone() != "" {
			return errors.New("has a malformed IPv6 host")
		}
	}
	return nil
}

// shorten keeps error messages readable when a value is long.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "…"
}
