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
// invoice.v1 event, an OrderItem (raw.mews.orderitem) one invoice_line.v1 event; the other
// entity types carry no canonical event and return none (they are archived raw only). It is
// pure (no I/O, no clock) and deterministic: the same raw record gives the same event and ce-id.
// Every failure, including a resource that is no export entity type, wraps
// events.ErrUnmappable. See the package doc for the readings it applies.
func (Provider) Map(raw events.Raw) ([]events.Event, error) {
	var (
		what string
		ev   events.Event
		err  error
	)
	switch raw.Resource {
	case Resource(EntityBill):
		what = "bill"
		ev, err = mapBill(raw)
	case Resource(EntityOrderItem):
		what = "order item"
		ev, err = mapOrderItem(raw)
	default:
		for _, et := range EntityTypes() {
			if raw.Resource == Resource(et) {
				return nil, nil
			}
		}
		return nil, fmt.Errorf("mews: map raw %s: %w: resource %q is not a Mews export entity type", raw.ID, events.ErrUnmappable, poll.SafeText(raw.Resource))
	}
	if err != nil {
		return nil, fmt.Errorf("mews: map raw %s (%s %q): %w", raw.ID, what, poll.SafeText(raw.RecordID), err)
	}
	return []events.Event{ev}, nil
}

func mapBill(raw events.Raw) (events.Event, error) {
	b, err := decodeBill(raw.Data)
	if err != nil {
		return events.Event{}, err
	}
	id := b.ID
	if err := checkID("Id", id); err != nil {
		return events.Event{}, err
	}
	var created, issued, updated time.Time
	if err := parseTimes(
		timeField{"CreatedUtc", b.CreatedUtc, &created},
		timeField{"IssuedUtc", b.IssuedUtc, &issued},
		timeField{"UpdatedUtc", b.UpdatedUtc, &updated},
	); err != nil {
		return events.Event{}, err
	}
	// The event happened when the bill was issued; an open bill when it last changed.
	evTime := first(issued, updated, created)
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
	own, err := billAmount(b.Amount)
	if err != nil {
		return events.Event{}, err
	}
	if own != nil {
		// The bill states its own total: it wins over the sum of its items.
		inv.Currency, inv.TotalAmount, inv.TotalGross, inv.TotalNet = own.currency, own.gross, own.gross, own.net
	} else if err := totals(&inv, nets); err != nil {
		return events.Event{}, err
	}

	return events.NewEvent(raw, inv, evTime)
}

// mapOrderItem turns an OrderItem into an invoice_line.v1 event on the invoice "mews:<BillId>"
// (none while BillId is null): amount and gross_amount its Amount.GrossValue, net_amount its
// NetValue, quantity its UnitCount, unit_price its UnitAmount.GrossValue, product category =
// RevenueType, family = Type, code = BillingName; time the ConsumedUtc. The event time is
// ConsumedUtc, else UpdatedUtc, else CreatedUtc.
func mapOrderItem(raw events.Raw) (events.Event, error) {
	var o OrderItem
	if err := events.DecodeRecord(raw.Data, &o, "a Mews order item", true); err != nil {
		return events.Event{}, err
	}
	if err := checkID("Id", o.ID); err != nil {
		return events.Event{}, err
	}
	bill := strings.TrimSpace(o.BillID)
	if bill != "" {
		if err := checkID("BillId", bill); err != nil {
			return events.Event{}, err
		}
		bill = Name + ":" + bill
	}
	var consumed, created, updated time.Time
	if err := parseTimes(
		timeField{"ConsumedUtc", o.ConsumedUtc, &consumed},
		timeField{"CreatedUtc", o.CreatedUtc, &created},
		timeField{"UpdatedUtc", o.UpdatedUtc, &updated},
	); err != nil {
		return events.Event{}, err
	}
	evTime := first(consumed, updated, created)
	if evTime.IsZero() {
		return events.Event{}, events.Unmappable("order item has none of ConsumedUtc, UpdatedUtc, CreatedUtc")
	}
	m, err := amount("Amount", o.Amount)
	if err != nil {
		return events.Event{}, err
	}
	line := events.InvoiceLine{
		SchemaVersion: events.SchemaVersion,
		ID:            Name + ":" + o.ID,
		Provider:      Name,
		SourceID:      o.ID,
		InvoiceID:     bill,
		Account:       strings.TrimSpace(o.AccountID),
		Status:        strings.TrimSpace(o.AccountingState),
		Product: events.Product{
			Category: strings.TrimSpace(o.RevenueType),
			Family:   strings.TrimSpace(o.Type),
			Code:     strings.TrimSpace(o.BillingName),
		},
		Amount:      m.gross,
		GrossAmount: m.gross,
		NetAmount:   m.net,
		Currency:    m.currency,
		Lineage: events.Lineage{
			RawID:       raw.ID,
			RawStream:   "RAW",
			RawSequence: raw.Sequence,
			RawSubject:  raw.Subject(),
		},
	}
	if line.Quantity, err = decimal("UnitCount", o.UnitCount); err != nil {
		return events.Event{}, err
	}
	if o.UnitAmount != nil && o.UnitAmount.GrossValue != "" {
		if line.UnitPrice, err = decimal("UnitAmount.GrossValue", o.UnitAmount.GrossValue); err != nil {
			return events.Event{}, err
		}
	}
	if !consumed.IsZero() {
		line.Time = formatTime(consumed)
	}
	if !updated.IsZero() {
		line.SourceUpdatedAt = formatTime(updated)
	}
	return events.NewEvent(raw, line, evTime)
}

// checkID refuses an id that is missing or cannot travel as a canonical id.
func checkID(field, id string) error {
	switch {
	case id == "":
		return events.Unmappable("%s is missing", field)
	case !validID(id):
		return events.Unmappable("%s %q is not a usable id", field, poll.SafeText(id))
	}
	return nil
}

// timeField is one optional timestamp of an entity and where its parsed value goes.
type timeField struct {
	name, value string
	dst         *time.Time
}

// parseTimes parses every non-empty field into its dst.
func parseTimes(fields ...timeField) error {
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		t, err := parseTime(f.name, f.value)
		if err != nil {
			return err
		}
		*f.dst = t
	}
	return nil
}

// first returns the first non-zero time, the zero time if there is none.
func first(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// money is an amount read from Mews: a currency and exact decimals (net "" when absent).
type money struct{ currency, gross, net string }

// amount reads a required Amount: GrossValue and an ISO 4217 Currency are needed, NetValue is
// optional.
func amount(field string, a *ExtendedAmount) (money, error) {
	if a == nil {
		return money{}, events.Unmappable("%s is missing", field)
	}
	if a.GrossValue == "" {
		return money{}, events.Unmappable("%s.GrossValue is missing", field)
	}
	gross, err := decimal(field+".GrossValue", a.GrossValue)
	if err != nil {
		return money{}, err
	}
	net, err := decimal(field+".NetValue", a.NetValue)
	if err != nil {
		return money{}, err
	}
	currency := strings.ToUpper(strings.TrimSpace(a.Currency))
	if !currencyISO.MatchString(currency) {
		return money{}, events.Unmappable("%s.Currency %q is not an ISO 4217 code", field, poll.SafeText(a.Currency))
	}
	return money{currency: currency, gross: gross, net: net}, nil
}

// billAmount reads a bill's own Amount: nil when the bill carries none (absent, null, or with
// neither GrossValue nor NetValue); one with a NetValue but no GrossValue is unmappable, like a
// revenue item without it.
func billAmount(a *ExtendedAmount) (*money, error) {
	if a == nil || (a.GrossValue == "" && a.NetValue == "") {
		return nil, nil
	}
	m, err := amount("Amount", a)
	if err != nil {
		return nil, err
	}
	return &m, nil
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
	field := fmt.Sprintf("Revenue[%d]", i)
	m, err := amount(field+".Amount", item.Amount)
	if err != nil {
		return events.LineItem{}, "", err
	}
	line := events.LineItem{
		Product: events.Product{
			Category: strings.TrimSpace(item.Type),
			Family:   strings.TrimSpace(item.SubType),
			Code:     strings.TrimSpace(item.Name),
		},
		Amount:   m.gross,
		Currency: m.currency,
	}
	if item.ConsumptionUtc != "" {
		t, err := parseTime(field+".ConsumptionUtc", item.ConsumptionUtc)
		if err != nil {
			return events.LineItem{}, "", err
		}
		line.Time = formatTime(t)
	}
	return line, m.net, nil
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
