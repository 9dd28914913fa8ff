package sink

import (
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/nats-io/nats.go"
	"github.com/shopspring/decimal"

	"github.com/chargeline/chargeline/pkg/events"
)

// Table names (DESIGN.md §6, contract).
const (
	TableChargingSessions = "charging_sessions"
	TableInvoices         = "invoices"
	TableCostCenters      = "cost_centers"
	TableInvoiceLines     = "invoice_lines"
	TableRawRecords       = "raw_records"
)

// errUndecodable marks a message that can never become a row; it goes to the DLQ.
var errUndecodable = errors.New("sink: message cannot be decoded")

// row is one table row: values in the order of cols, typed for clickhouse-go (nullable columns
// take pointers, Nested sub-columns take slices, decimals are decimal.Decimal).
type row struct {
	table string
	cols  []string
	vals  []any
}

// source is what the sink knows of a message besides its row.
type source struct {
	subject  string
	header   nats.Header
	data     []byte
	seq      uint64    // stream sequence
	stored   time.Time // when the stream stored it
	provider string    // from the subject; "unknown" when it has none
}

// decode turns a message into a row. Errors wrap errUndecodable.
func decode(src source) (row, error) { return decodeWith(src, nil) }

// decodeWith is decode for a consumer loop: known holds the column list of the last row decoded
// per table, which a new row of the same table shares instead of holding a copy (one per row
// would be a sixth of a batch's memory). decodeWith records the row's list in known.
func decodeWith(src source, known map[string][]string) (row, error) {
	var (
		r   row
		err error
	)
	switch {
	case strings.HasPrefix(src.subject, "raw."):
		r, err = decodeRaw(src, known)
	case strings.HasPrefix(src.subject, "events."):
		r, err = decodeEvent(src, known)
	default:
		err = fmt.Errorf("no table for subject %s", src.subject)
	}
	if err != nil {
		return row{}, fmt.Errorf("%w: %w", errUndecodable, err)
	}
	if known != nil {
		known[r.table] = r.cols
	}
	return r, nil
}

// subjectProvider returns the provider token of raw.<provider>.<resource> or
// events.<type>.v1.<provider>, "unknown" when the subject has none.
func subjectProvider(subject string) string {
	t := strings.Split(subject, ".")
	var p string
	switch {
	case len(t) == 3 && t[0] == "raw":
		p = t[1]
	case len(t) == 4 && t[0] == "events":
		p = t[3]
	}
	if p == "" || strings.ContainsAny(p, "*> \t") {
		return "unknown"
	}
	return p
}

// tableFor returns the table a subject feeds, "" when none.
func tableFor(subject string) string {
	t := strings.Split(subject, ".")
	switch {
	case t[0] == "raw":
		return TableRawRecords
	case len(t) >= 2 && t[0] == "events":
		switch t[1] {
		case events.TypeChargingSession:
			return TableChargingSessions
		case events.TypeInvoice:
			return TableInvoices
		case events.TypeCostCenter:
			return TableCostCenters
		case events.TypeInvoiceLine:
			return TableInvoiceLines
		}
	}
	return ""
}

func decodeRaw(src source, known map[string][]string) (row, error) {
	raw, err := events.ParseRaw(src.subject, src.header, src.data, src.seq)
	if err != nil {
		return row{}, err
	}
	fetched := raw.FetchedAt
	if fetched.IsZero() {
		fetched = src.stored // a raw message without chargeline-fetched-at: the stream's time
	}
	if err := checkDateTime(fetched); err != nil {
		return row{}, fmt.Errorf("%s: %w", events.HeaderFetchedAt, err)
	}
	b := newBuilder(TableRawRecords, known[TableRawRecords])
	b.set("provider", raw.Provider)
	b.set("resource", raw.Resource)
	b.set("scope", raw.Scope)
	b.set("record_id", raw.RecordID)
	b.set("ce_id", raw.ID)
	b.set("fetched_at", fetched.UTC())
	b.set("stream_seq", raw.Sequence)
	b.set("payload", string(raw.Data))
	return b.row()
}

func decodeEvent(src source, known map[string][]string) (row, error) {
	ceType := src.header.Get(events.HeaderType)
	ceID := src.header.Get(events.HeaderID)
	if ceID == "" {
		return row{}, fmt.Errorf("event on %s has no %s header", src.subject, events.HeaderID)
	}
	table := tableFor(src.subject)
	if want := "io.chargeline." + strings.Split(src.subject, ".")[1] + ".v1"; table == "" || (ceType != "" && ceType != want) {
		return row{}, fmt.Errorf("no table for event type %q on %s", ceType, src.subject)
	}
	if ct := src.header.Get(events.HeaderContentType); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return row{}, fmt.Errorf("content-type %q is not application/json", ct)
	}
	b := newBuilder(table, known[table])
	var (
		lineage events.Lineage
		schema  string
	)
	switch table {
	case TableChargingSessions:
		var e events.ChargingSession
		if err := unmarshal(src.data, &e); err != nil {
			return row{}, fmt.Errorf("charging_session body: %w", err)
		}
		if err := needIDs(e.ID, e.Provider); err != nil {
			return row{}, err
		}
		chargingSession(b, e)
		lineage, schema = e.Lineage, e.SchemaVersion
	case TableInvoices:
		var e events.Invoice
		if err := unmarshal(src.data, &e); err != nil {
			return row{}, fmt.Errorf("invoice body: %w", err)
		}
		if err := needIDs(e.ID, e.Provider); err != nil {
			return row{}, err
		}
		invoice(b, e)
		lineage, schema = e.Lineage, e.SchemaVersion
	case TableCostCenters:
		var e events.CostCenter
		if err := unmarshal(src.data, &e); err != nil {
			return row{}, fmt.Errorf("cost_center body: %w", err)
		}
		if err := needIDs(e.ID, e.Provider); err != nil {
			return row{}, err
		}
		costCenter(b, e)
		lineage, schema = e.Lineage, e.SchemaVersion
	case TableInvoiceLines:
		var e events.InvoiceLine
		if err := unmarshal(src.data, &e); err != nil {
			return row{}, fmt.Errorf("invoice_line body: %w", err)
		}
		if err := needIDs(e.ID, e.Provider); err != nil {
			return row{}, err
		}
		invoiceLine(b, e)
		lineage, schema = e.Lineage, e.SchemaVersion
	}
	b.set("schema_version", schema)
	b.set("raw_id", lineage.RawID)
	b.set("raw_subject", lineage.RawSubject)
	b.set("raw_sequence", lineage.RawSequence)
	b.set("event_id", ceID)
	b.set("event_sequence", src.seq)
	// Later versions of a record win: the RAW sequence grows with every fetch of a record, and a
	// replay of old raw messages keeps their old sequences (see 0002_charging_sessions.sql).
	b.set("version", lineage.RawSequence)
	return b.row()
}

// unmarshal decodes a canonical event's body. The codec is segmentio/encoding/json, which
// passes encoding/json's own test suite and decodes an event in about 60 % of the time
// (decoding was a tenth of the pipeline's CPU in the `make bench` profile). Strings point into
// the message's bytes rather than being copied: the message is held until its row is inserted
// anyway, and the column append copies them once more.
func unmarshal(data []byte, v any) error {
	rest, err := json.Parse(data, v, json.DontCopyString)
	if err == nil && len(rest) != 0 {
		return fmt.Errorf("invalid character %q after top-level value", rest[0])
	}
	return err
}

func needIDs(id, provider string) error {
	if id == "" || provider == "" {
		return fmt.Errorf("event has no id or provider (id %q, provider %q)", id, provider)
	}
	return nil
}

func chargingSession(b *builder, e events.ChargingSession) {
	b.set("id", e.ID)
	b.set("provider", e.Provider)
	b.set("source_id", e.SourceID)
	b.set("account", e.Account)
	b.set("status", e.Status)
	b.time("started_at", e.StartedAt)
	b.time("ended_at", e.EndedAt)
	b.set("duration_seconds", e.DurationSeconds)
	loc := events.Location{}
	if e.Location != nil {
		loc = *e.Location
	}
	b.set("location_id", loc.ID)
	b.set("location_name", loc.Name)
	b.set("location_address", loc.Address)
	b.set("location_postal_code", loc.PostalCode)
	b.set("location_city", loc.City)
	b.set("location_country_code", loc.CountryCode)
	b.set("location_latitude", loc.Latitude)
	b.set("location_longitude", loc.Longitude)
	b.set("location_operator", loc.Operator)
	b.set("location_store_number", loc.StoreNumber)
	b.set("location_time_zone", loc.TimeZone)
	tok := events.Token{}
	if e.Token != nil {
		tok = *e.Token
	}
	b.set("token_type", tok.Type)
	b.set("token_value", tok.Value)
	b.set("vehicle_id", e.VehicleID)
	b.dec("quantity", e.Quantity, 4)
	b.set("unit", e.Unit)
	b.dec("energy_kwh", e.EnergyKWh, 4)
	prod := events.Product{}
	if e.Product != nil {
		prod = *e.Product
	}
	b.set("product_category", prod.Category)
	b.set("product_family", prod.Family)
	b.set("product_code", prod.Code)
	b.lines(e.LineItems)
	b.dec("total_amount", e.TotalAmount, 4)
	b.set("currency", e.Currency)
	b.set("invoice_ref", e.InvoiceRef)
	b.set("cost_center_ref", e.CostCenterRef)
	b.time("source_updated_at", e.SourceUpdatedAt)
}

func invoice(b *builder, e events.Invoice) {
	b.set("id", e.ID)
	b.set("provider", e.Provider)
	b.set("source_id", e.SourceID)
	b.set("account", e.Account)
	b.time("issued_at", e.IssuedAt)
	b.time("period_start", e.PeriodStart)
	b.time("period_end", e.PeriodEnd)
	b.set("status", e.Status)
	b.dec("total_amount", e.TotalAmount, 4)
	b.dec("total_net", e.TotalNet, 4)
	b.dec("total_gross", e.TotalGross, 4)
	b.set("currency", e.Currency)
	b.lines(e.LineItems)
	ids := e.SessionIDs
	if ids == nil {
		ids = []string{}
	}
	b.set("session_ids", ids)
	b.set("document_url", e.DocumentURL)
	b.time("source_updated_at", e.SourceUpdatedAt)
}

func costCenter(b *builder, e events.CostCenter) {
	b.set("id", e.ID)
	b.set("provider", e.Provider)
	b.set("organization_id", e.OrganizationID)
	b.set("source_id", e.SourceID)
	b.set("name", e.Name)
	b.set("description", e.Description)
	b.time("created_at", e.CreatedAt)
	b.time("updated_at", e.UpdatedAt)
}

// invoiceLine fills an invoice_lines row. amount is required: a line without it has no money
// to add to its invoice.
func invoiceLine(b *builder, e events.InvoiceLine) {
	b.set("id", e.ID)
	b.set("provider", e.Provider)
	b.set("source_id", e.SourceID)
	b.set("invoice_id", e.InvoiceID)
	b.set("account", e.Account)
	b.set("status", e.Status)
	b.set("product_category", e.Product.Category)
	b.set("product_family", e.Product.Family)
	b.set("product_code", e.Product.Code)
	b.dec("quantity", e.Quantity, 4)
	b.set("unit", e.Unit)
	b.dec("unit_price", e.UnitPrice, 6)
	amount, err := parseDecimal(e.Amount, 4)
	switch {
	case err != nil:
		b.fail("amount", err)
	case amount == nil:
		b.fail("amount", errors.New("is required"))
	}
	if amount == nil {
		amount = &decimal.Decimal{}
	}
	b.set("amount", *amount)
	b.dec("net_amount", e.NetAmount, 4)
	b.dec("gross_amount", e.GrossAmount, 4)
	b.set("currency", e.Currency)
	b.time("time", e.Time)
	b.time("source_updated_at", e.SourceUpdatedAt)
}

// builder collects a row's columns and the first conversion error.
type builder struct {
	table string
	// cols are the row's columns while they differ from known, the previous row's of the table;
	// as long as they agree the row shares known's list.
	cols  []string
	known []string
	same  bool
	vals  []any
	err   error
}

// maxColumns sizes a row's slices; the widest table has 50 columns.
const maxColumns = 64

func newBuilder(table string, known []string) *builder {
	n := maxColumns
	if known != nil {
		n = len(known)
	}
	return &builder{table: table, known: known, same: known != nil, vals: make([]any, 0, n)}
}

func (b *builder) set(col string, v any) {
	i := len(b.vals)
	if b.same && (i >= len(b.known) || b.known[i] != col) {
		b.same = false
		b.cols = append(make([]string, 0, maxColumns), b.known[:i]...)
	}
	if !b.same {
		b.cols = append(b.cols, col)
	}
	b.vals = append(b.vals, v)
}

func (b *builder) fail(col string, err error) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %w", col, err)
	}
}

// time sets a Nullable(DateTime('UTC')) column from an RFC 3339 string ("" = NULL).
func (b *builder) time(col, s string) {
	t, err := parseTime(s)
	if err != nil {
		b.fail(col, err)
	}
	b.set(col, t)
}

// dec sets a Nullable(Decimal(18, scale)) column from a decimal string ("" = NULL).
func (b *builder) dec(col, s string, scale int32) {
	d, err := parseDecimal(s, scale)
	if err != nil {
		b.fail(col, err)
	}
	b.set(col, d)
}

// lines sets the Nested lines.* sub-columns.
func (b *builder) lines(items []events.LineItem) {
	n := len(items)
	var (
		cat, fam, code, unit, cur = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		qty, price                = make([]*decimal.Decimal, n), make([]*decimal.Decimal, n)
		amount                    = make([]decimal.Decimal, n)
		at                        = make([]*time.Time, n)
	)
	for i, li := range items {
		cat[i], fam[i], code[i] = li.Product.Category, li.Product.Family, li.Product.Code
		unit[i], cur[i] = li.Unit, li.Currency
		var err error
		if qty[i], err = parseDecimal(li.Quantity, 4); err != nil {
			b.fail(fmt.Sprintf("line_items[%d].quantity", i), err)
		}
		if price[i], err = parseDecimal(li.UnitPrice, 6); err != nil {
			b.fail(fmt.Sprintf("line_items[%d].unit_price", i), err)
		}
		a, err := parseDecimal(li.Amount, 4)
		switch {
		case err != nil:
			b.fail(fmt.Sprintf("line_items[%d].amount", i), err)
		case a == nil:
			b.fail(fmt.Sprintf("line_items[%d].amount", i), errors.New("is required"))
		default:
			amount[i] = *a
		}
		if at[i], err = parseTime(li.Time); err != nil {
			b.fail(fmt.Sprintf("line_items[%d].time", i), err)
		}
	}
	b.set("lines.product_category", cat)
	b.set("lines.product_family", fam)
	b.set("lines.product_code", code)
	b.set("lines.quantity", qty)
	b.set("lines.unit", unit)
	b.set("lines.unit_price", price)
	b.set("lines.amount", amount)
	b.set("lines.currency", cur)
	b.set("lines.time", at)
}

func (b *builder) row() (row, error) {
	if b.err != nil {
		return row{}, b.err
	}
	cols := b.cols
	if b.same {
		cols = b.known[:len(b.vals)] // read-only: shared by every row that agrees
	}
	return row{table: b.table, cols: cols, vals: b.vals}, nil
}

// DateTime holds seconds since 1970 in a UInt32.
var (
	minDateTime = time.Unix(0, 0)
	maxDateTime = time.Unix(1<<32-1, 0)
)

func checkDateTime(t time.Time) error {
	if t.Before(minDateTime) || t.After(maxDateTime) {
		return fmt.Errorf("%s is outside DateTime's range 1970–2106", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseTime parses an RFC 3339 time; "" is NULL.
func parseTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	if err := checkDateTime(t); err != nil {
		return nil, err
	}
	t = t.UTC()
	return &t, nil
}

// parseDecimal parses a decimal string for a Decimal(18, scale) column; "" is NULL. A value
// with more significant decimals than scale, or too many digits, is an error: money is never
// rounded or truncated on its way into ClickHouse.
func parseDecimal(s string, scale int32) (*decimal.Decimal, error) {
	if s == "" {
		return nil, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil || strings.ContainsAny(s, "xXpP_") {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	// Only a value written with more decimals than scale can lose any (1.2300000 loses none).
	if d.Exponent() < -scale && !d.Truncate(scale).Equal(d) {
		return nil, fmt.Errorf("%q has more than %d decimals", s, scale)
	}
	if scale < 0 || int(scale) >= len(decimalLimits) {
		return nil, fmt.Errorf("scale %d is not one of Decimal(18, 0…18)", scale)
	}
	if limit := decimalLimits[scale]; d.Cmp(limit[0]) >= 0 || d.Cmp(limit[1]) <= 0 {
		return nil, fmt.Errorf("%q does not fit Decimal(18, %d)", s, scale)
	}
	return &d, nil
}

// decimalLimits[scale] is ±10^(18-scale): a Decimal(18, scale) holds values of smaller
// magnitude. Computed once: parseDecimal runs for every amount of every row.
var decimalLimits = func() (l [19][2]decimal.Decimal) {
	for scale := range l {
		l[scale][0] = decimal.New(1, int32(18-scale))
		l[scale][1] = decimal.New(-1, int32(18-scale))
	}
	return l
}()
