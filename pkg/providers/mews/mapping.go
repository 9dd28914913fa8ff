package mews

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
)

var currencyISO = regexp.MustCompile(`^[A-Z]{3}$`)

// Map turns one raw Mews entity into canonical events: a Bill (raw.mews.bill) becomes one
// invoice.v1 event; the other entity types carry no canonical event and return none (they are
// archived raw only). It is pure (no I/O, no clock) and deterministic: the same raw record gives
// the same event and ce-id. Every failure, including a resource that is no export entity type,
// wraps events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	if raw.Resource != Resource(EntityBill) {
		for _, et := range EntityTypes() {
			if raw.Resource == Resource(et) {
				return nil, nil
			}
		}
		return nil, fmt.Errorf("mews: map raw %s: %w: resource %q is not a Mews export entity type", raw.ID, events.ErrUnmappable, poll.SafeText(raw.Resource))
	}
	ev, err := mapBill(raw)
	if err != nil {
		return nil, fmt.Errorf("mews: map raw %s (bill %q): %w", raw.ID, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapBill(raw events.Raw) (events.Event, error) {
	b, err := decodeBill(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	id := b.ID
	switch {
	case id == "":
		return events.Event{}, events.Unmappable("Id is missing")
	case !validID(id):
		return events.Event{}, events.Unmappable("Id %q is not a usable id", poll.SafeText(id))
	}
	var created, issued, updated time.Time
	for _, f := range []struct {
		name, value string
		dst         *time.Time
	}{{"CreatedUtc", b.CreatedUtc, &created}, {"IssuedUtc", b.IssuedUtc, &issued}, {"UpdatedUtc", b.UpdatedUtc, &updated}} {
		if f.value == "" {
			continue
		}
		if *f.dst, err = parseTime(f.name, f.value); err != nil {
			return events.Event{}, err
		}
	}
	// The event happened when the bill was issued; an open bill when it last changed.
	evTime := issued
	for _, t := range []time.Time{updated, created} {
		if evTime.IsZero() {
			evTime = t
		}
	}
	if evTime.IsZero() {
		return events.Event{}, events.Unmappable("bill has none of IssuedUtc, UpdatedUtc, CreatedUtc")
	}
	inv := events.Invoice{
		SchemaVersion: events.SchemaVersion,
		ID:            Name + ":" + id,
		Provider:      Name,
		SourceID:      id,
		Account:       account(b),
		Status:        strings.TrimSpace(b.State),
		LineItems:     []events.LineItem{},
		SessionIDs:    []string{},
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	if !issued.IsZero() {
		inv.IssuedAt = formatTime(issued)
	}
	if !updated.IsZero() {
		inv.SourceUpdatedAt = formatTime(updated)
	}
	nets := make([]string, 0, len(b.Revenue))
	for i, item := range b.Revenue {
		line, net, err := lineItem(i, item)
		if err != nil {
			return events.Event{}, err
		}
		inv.LineItems = append(inv.LineItems, line)
		nets = append(nets, net)
	}
	if err := totals(&inv, nets); err != nil {
		return events.Event{}, err
	}

	return events.NewEvent(raw, inv, evTime)
}

// decodeBill decodes exactly one JSON object; numbers stay json.Number.
func decodeBill(data []byte) (Bill, error) {
	var b Bill
	if err := events.DecodeRecord(data, &b, "a Mews bill", true); err != nil {
		return Bill{}, err
	}
	return b, nil
}

// account is who the bill is issued to: AccountId, else the deprecated CustomerId or CompanyId.
func account(b Bill) string {
	for _, id := range []string{b.AccountID, b.CustomerID, b.CompanyID} {
		if id = strings.TrimSpace(id); id != "" {
			return id
		}
	}
	return ""
}

// Times outside [minTime, maxTime) cannot be stored (ClickHouse DateTime holds 1970 … 2106) and
// are certainly wrong.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseTime reads an ISO 8601 / RFC 3339 timestamp; Mews sends UTC ("…Z"), and one without an
// offset is taken as UTC, as the field names (…Utc) say.
func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05.999999999", s); err != nil {
			return time.Time{}, events.Unmappable("%s %q is not an ISO 8601 UTC timestamp", field, poll.SafeText(s))
		}
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, events.Unmappable("%s %q is outside 1970 … 2105", field, poll.SafeText(s))
	}
	return t, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// lineItem maps one revenue item: amount is its GrossValue (Mews's gross includes tax); it also
// returns the NetValue ("" when absent) for the bill's net total.
func lineItem(i int, item AccountingItem) (events.LineItem, string, error) {
	field := func(name string) string { return fmt.Sprintf("Revenue[%d].%s", i, name) }
	a := item.Amount
	if a == nil {
		return events.LineItem{}, "", events.Unmappable("%s is missing", field("Amount"))
	}
	if a.GrossValue == "" {
		return events.LineItem{}, "", events.Unmappable("%s is missing", field("Amount.GrossValue"))
	}
	gross, err := decimal(field("Amount.GrossValue"), a.GrossValue)
	if err != nil {
		return events.LineItem{}, "", err
	}
	net, err := decimal(field("Amount.NetValue"), a.NetValue)
	if err != nil {
		return events.LineItem{}, "", err
	}
	currency := strings.ToUpper(strings.TrimSpace(a.Currency))
	if !currencyISO.MatchString(currency) {
		return events.LineItem{}, "", events.Unmappable("%s %q is not an ISO 4217 code", field("Amount.Currency"), poll.SafeText(a.Currency))
	}
	line := events.LineItem{
		Product: events.Product{
			Category: strings.TrimSpace(item.Type),
			Family:   strings.TrimSpace(item.SubType),
			Code:     strings.TrimSpace(item.Name),
		},
		Amount:   gross,
		Currency: currency,
	}
	if item.ConsumptionUtc != "" {
		t, err := parseTime(field("ConsumptionUtc"), item.ConsumptionUtc)
		if err != nil {
			return events.LineItem{}, "", err
		}
		line.Time = formatTime(t)
	}
	return line, net, nil
}

// totals sets the bill's gross (total_amount and total_gross) and net totals from its lines when
// they share one currency; a bill mixing currencies keeps its lines but has no total (not an
// error), and the net total needs every line's NetValue.
func totals(inv *events.Invoice, nets []string) error {
	lines := inv.LineItems
	if len(lines) == 0 {
		return nil
	}
	amounts := make([]string, len(lines))
	allNets := true
	for i, l := range lines {
		if l.Currency != lines[0].Currency {
			return nil
		}
		amounts[i] = l.Amount
		allNets = allNets && nets[i] != ""
	}
	gross, err := events.AddDecimals(amounts...)
	if err != nil {
		return err
	}
	inv.TotalAmount, inv.TotalGross, inv.Currency = gross, gross, lines[0].Currency
	if allNets {
		if inv.TotalNet, err = events.AddDecimals(nets...); err != nil {
			return err
		}
	}
	return nil
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
