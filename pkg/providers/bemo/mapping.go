package bemo

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

// Status of every mapped session: the reporting API lists finished sessions only.
const statusCompleted = "completed"

var (
	utcOffset   = regexp.MustCompile(`^([+-])([0-9]{2}):?([0-9]{2})$`)
	currencyISO = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Map turns one raw Be-Mo session into one charging_session.v1 event. It is pure (no I/O, no
// clock) and deterministic: the same raw record gives the same event and ce-id. Every failure
// wraps events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	ev, err := mapSession(raw)
	if err != nil {
		return nil, fmt.Errorf("bemo: map raw %s (session %q): %w", raw.ID, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapSession(raw events.Raw) (events.Event, error) {
	s, err := decodeSession(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	if s.SessionID == "" {
		return events.Event{}, events.Unmappable("sessionId is missing")
	}
	if !validID(s.SessionID) {
		return events.Event{}, events.Unmappable("sessionId %q is not a usable id", poll.SafeText(s.SessionID))
	}
	tz := strings.TrimSpace(s.TimeZone)
	if s.SessionStartDate == "" {
		return events.Event{}, events.Unmappable("sessionStartDate is missing")
	}
	start, err := parseTime("sessionStartDate", s.SessionStartDate, tz)
	if err != nil {
		return events.Event{}, err
	}
	cs := events.ChargingSession{
		SchemaVersion: events.SchemaVersion,
		ID:            Name + ":" + s.SessionID,
		Provider:      Name,
		SourceID:      s.SessionID,
		Account:       raw.Scope,
		Status:        statusCompleted,
		StartedAt:     formatTime(start),
		VehicleID:     strings.TrimSpace(s.VehicleID),
		LineItems:     []events.LineItem{},
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	evTime := start
	if s.SessionEndDate != "" {
		end, err := parseTime("sessionEndDate", s.SessionEndDate, tz)
		if err != nil {
			return events.Event{}, err
		}
		if end.Before(start) {
			return events.Event{}, events.Unmappable("sessionEndDate %s is before sessionStartDate %s", formatTime(end), formatTime(start))
		}
		d := int64(end.Sub(start) / time.Second)
		cs.EndedAt, cs.DurationSeconds, evTime = formatTime(end), &d, end
	}
	if cs.Location, err = location(s, tz); err != nil {
		return events.Event{}, err
	}
	cs.Token = token(s)
	for i, tx := range s.Transactions {
		line, err := lineItem(i, tx, tz)
		if err != nil {
			return events.Event{}, err
		}
		cs.LineItems = append(cs.LineItems, line)
	}
	if err := summarise(&cs); err != nil {
		return events.Event{}, err
	}

	return events.NewEvent(raw, cs, evTime)
}

// decodeSession decodes exactly one JSON object; numbers stay json.Number.
func decodeSession(data []byte) (Session, error) {
	var s Session
	if err := events.DecodeRecord(data, &s, "a Be-Mo session", true); err != nil {
		return Session{}, err
	}
	return s, nil
}

// parseTime reads an RFC 3339 timestamp; one without an offset is local to the site and gets
// timeZone's offset. The result is UTC.
// Times outside [minTime, maxTime) cannot be stored (ClickHouse DateTime holds 1970 … 2106)
// and are certainly wrong.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func parseTime(field, s, tz string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		local, err := time.Parse("2006-01-02T15:04:05.999999999", s)
		if err != nil {
			return time.Time{}, events.Unmappable("%s %q is not an RFC 3339 timestamp", field, poll.SafeText(s))
		}
		off, ok := parseOffset(tz)
		if !ok {
			return time.Time{}, events.Unmappable("%s %q has no UTC offset and timeZone %q is not one like +01:00", field, poll.SafeText(s), poll.SafeText(tz))
		}
		t = local.Add(-off)
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, events.Unmappable("%s %q is outside 1970 … 2105", field, poll.SafeText(s))
	}
	return t, nil
}

// parseOffset reads "+01:00", "-0500", "Z" or "UTC".
func parseOffset(tz string) (time.Duration, bool) {
	switch tz {
	case "Z", "UTC":
		return 0, true
	}
	m := utcOffset.FindStringSubmatch(tz)
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[2])
	mm, _ := strconv.Atoi(m[3])
	if h > 14 || mm > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(mm)*time.Minute
	if m[1] == "-" {
		d = -d
	}
	return d, true
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func location(s Session, tz string) (*events.Location, error) {
	lat, err := coordinate("latitude", s.Latitude, 90)
	if err != nil {
		return nil, err
	}
	lon, err := coordinate("longitude", s.Longitude, 180)
	if err != nil {
		return nil, err
	}
	loc := events.Location{
		ID:          strings.TrimSpace(s.PlaceID),
		Name:        strings.TrimSpace(s.PlaceName),
		Address:     strings.Join(strings.Fields(s.Address), " "),
		PostalCode:  strings.TrimSpace(s.ZipCode),
		City:        strings.TrimSpace(s.CityKey),
		CountryCode: strings.ToUpper(strings.TrimSpace(s.CountryCode)),
		Latitude:    lat,
		Longitude:   lon,
		Operator:    strings.TrimSpace(s.PlaceNetwork),
		TimeZone:    tz,
	}
	if loc == (events.Location{}) {
		return nil, nil
	}
	return &loc, nil
}

func coordinate(field string, n json.Number, limit float64) (*float64, error) {
	if n == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(v) || math.Abs(v) > limit {
		return nil, events.Unmappable("%s %q is not a coordinate within ±%g", field, poll.SafeText(string(n)), limit)
	}
	return &v, nil
}

// token: isRfid true means the card authorised the session; otherwise the vehicle did.
func token(s Session) *events.Token {
	if rfid := strings.TrimSpace(s.Rfid); s.IsRfid && rfid != "" {
		return &events.Token{Type: "rfid", Value: rfid}
	}
	if v := strings.TrimSpace(s.VehicleID); !s.IsRfid && v != "" {
		return &events.Token{Type: "vehicle", Value: v}
	}
	return nil
}

func lineItem(i int, tx Transaction, tz string) (events.LineItem, error) {
	field := func(name string) string { return fmt.Sprintf("transactions[%d].%s", i, name) }
	if tx.TotalAmount == "" {
		return events.LineItem{}, events.Unmappable("%s is missing", field("totalAmount"))
	}
	amount, err := decimal(field("totalAmount"), tx.TotalAmount)
	if err != nil {
		return events.LineItem{}, err
	}
	currency := strings.ToUpper(strings.TrimSpace(tx.CurrencyKey))
	if !currencyISO.MatchString(currency) {
		return events.LineItem{}, events.Unmappable("%s %q is not an ISO 4217 code", field("currencyKey"), poll.SafeText(tx.CurrencyKey))
	}
	line := events.LineItem{
		Product: events.Product{
			Category: strings.TrimSpace(tx.ProductCategory),
			Family:   strings.TrimSpace(tx.ProductFamily),
			Code:     strings.TrimSpace(tx.ProductCode),
		},
		Unit:     strings.TrimSpace(tx.QuantityUnit),
		Amount:   amount,
		Currency: currency,
	}
	if line.Quantity, err = decimal(field("quantity"), tx.Quantity); err != nil {
		return events.LineItem{}, err
	}
	if line.UnitPrice, err = decimal(field("unitPrice"), tx.UnitPrice); err != nil {
		return events.LineItem{}, err
	}
	if tx.TransactionDate != "" {
		t, err := parseTime(field("transactionDate"), tx.TransactionDate, tz)
		if err != nil {
			return events.LineItem{}, err
		}
		line.Time = formatTime(t)
	}
	return line, nil
}

// decimal returns n as a plain decimal string ("" for an absent number). Exponents are bounded
// so a hostile "1e999999" cannot become a million digits.
func decimal(field string, n json.Number) (string, error) {
	s := string(n)
	if s == "" {
		return "", nil
	}
	if len(s) > 64 {
		return "", events.Unmappable("%s has %d characters, too long for an amount", field, len(s))
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 30 || e < -30 {
			return "", events.Unmappable("%s %q has an exponent out of range", field, poll.SafeText(s))
		}
	}
	d, err := events.Decimal(n)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// energyExp is the power of ten that converts a quantity in unit to kWh; ok is false for units
// that are not energy.
func energyExp(unit string) (exp int, ok bool) {
	switch strings.ToLower(unit) {
	case "wh":
		return -3, true
	case "kwh":
		return 0, true
	case "mwh":
		return 3, true
	}
	return 0, false
}

// summarise fills the session's quantity, unit, energy, product, total and currency from its
// line items.
func summarise(cs *events.ChargingSession) error {
	lines := cs.LineItems
	if len(lines) == 0 {
		return nil
	}
	sameUnit, sameCurrency, sameProduct, sameCategory := true, true, true, true
	var quantities, amounts, energy []string
	for _, l := range lines {
		sameUnit = sameUnit && l.Unit != "" && l.Quantity != "" && l.Unit == lines[0].Unit
		sameCurrency = sameCurrency && l.Currency == lines[0].Currency
		sameProduct = sameProduct && l.Product == lines[0].Product
		sameCategory = sameCategory && l.Product.Category == lines[0].Product.Category
		quantities = append(quantities, l.Quantity)
		amounts = append(amounts, l.Amount)
		if exp, ok := energyExp(l.Unit); ok && l.Quantity != "" {
			kwh, err := scaleDecimal(l.Quantity, exp)
			if err != nil {
				return err
			}
			energy = append(energy, kwh)
		}
	}
	var err error
	if sameUnit {
		if cs.Quantity, err = events.AddDecimals(quantities...); err != nil {
			return err
		}
		cs.Unit = lines[0].Unit
	}
	if len(energy) > 0 {
		if cs.EnergyKWh, err = events.AddDecimals(energy...); err != nil {
			return err
		}
	}
	if sameCurrency {
		if cs.TotalAmount, err = events.AddDecimals(amounts...); err != nil {
			return err
		}
		cs.Currency = lines[0].Currency
	}
	switch p := lines[0].Product; {
	case sameProduct && p != (events.Product{}):
		cs.Product = &p
	case sameCategory && p.Category != "":
		cs.Product = &events.Product{Category: p.Category}
	}
	return nil
}

// scaleDecimal multiplies the decimal s by 10^exp exactly and drops trailing zeros the scaling
// introduced ("16530" Wh → "16.53" kWh).
func scaleDecimal(s string, exp int) (string, error) {
	out, ok := events.ScaleDecimal(s, exp)
	if !ok {
		return "", events.Unmappable("%q is not a decimal number", poll.SafeText(s))
	}
	return out, nil
}
