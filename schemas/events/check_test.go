package eventschema_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/chargeline/chargeline/pkg/events"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// mutation sets one field of a copy of an example event from the fuzzer's values.
type mutation struct {
	name string
	set  func(d any, s string, n int64, x float64)
}

func str(name string, f func(d any) *string) mutation {
	return mutation{name, func(d any, s string, _ int64, _ float64) { *f(d) = s }}
}

func cs(d any) *events.ChargingSession { return d.(*events.ChargingSession) }
func loc(d any) *events.Location {
	if cs(d).Location == nil {
		cs(d).Location = &events.Location{}
	}
	return cs(d).Location
}
func tok(d any) *events.Token {
	if cs(d).Token == nil {
		cs(d).Token = &events.Token{Type: "rfid"}
	}
	return cs(d).Token
}
func inv(d any) *events.Invoice    { return d.(*events.Invoice) }
func cc(d any) *events.CostCenter  { return d.(*events.CostCenter) }
func il(d any) *events.InvoiceLine { return d.(*events.InvoiceLine) }

// head and lineage mutations apply to every type.
func common(get func(d any) (*string, *string, *string, *string, *events.Lineage)) []mutation {
	return []mutation{
		str("schema_version", func(d any) *string { v, _, _, _, _ := get(d); return v }),
		str("id", func(d any) *string { _, id, _, _, _ := get(d); return id }),
		str("provider", func(d any) *string { _, _, p, _, _ := get(d); return p }),
		str("source_id", func(d any) *string { _, _, _, s, _ := get(d); return s }),
		str("lineage.raw_id", func(d any) *string { _, _, _, _, l := get(d); return &l.RawID }),
		str("lineage.raw_stream", func(d any) *string { _, _, _, _, l := get(d); return &l.RawStream }),
		str("lineage.raw_subject", func(d any) *string { _, _, _, _, l := get(d); return &l.RawSubject }),
		{"lineage.raw_sequence", func(d any, _ string, n int64, _ float64) {
			_, _, _, _, l := get(d)
			l.RawSequence = uint64(max(n, 0))
		}},
	}
}

func lineItemMutations(items func(d any) *[]events.LineItem) []mutation {
	first := func(d any) *events.LineItem {
		if len(*items(d)) == 0 {
			*items(d) = []events.LineItem{{Amount: "1", Currency: "EUR"}}
		}
		return &(*items(d))[0]
	}
	return []mutation{
		str("line_items[0].amount", func(d any) *string { return &first(d).Amount }),
		str("line_items[0].currency", func(d any) *string { return &first(d).Currency }),
		str("line_items[0].quantity", func(d any) *string { return &first(d).Quantity }),
		str("line_items[0].unit_price", func(d any) *string { return &first(d).UnitPrice }),
		str("line_items[0].time", func(d any) *string { return &first(d).Time }),
		str("line_items[0].product.code", func(d any) *string { return &first(d).Product.Code }),
		{"line_items=null", func(d any, _ string, _ int64, _ float64) { *items(d) = nil }},
		{"line_items=[]", func(d any, _ string, _ int64, _ float64) { *items(d) = []events.LineItem{} }},
	}
}

var mutations = map[string][]mutation{
	events.TypeChargingSession: append(append(common(func(d any) (*string, *string, *string, *string, *events.Lineage) {
		c := cs(d)
		return &c.SchemaVersion, &c.ID, &c.Provider, &c.SourceID, &c.Lineage
	}), lineItemMutations(func(d any) *[]events.LineItem { return &cs(d).LineItems })...),
		str("account", func(d any) *string { return &cs(d).Account }),
		str("status", func(d any) *string { return &cs(d).Status }),
		str("started_at", func(d any) *string { return &cs(d).StartedAt }),
		str("ended_at", func(d any) *string { return &cs(d).EndedAt }),
		str("vehicle_id", func(d any) *string { return &cs(d).VehicleID }),
		str("quantity", func(d any) *string { return &cs(d).Quantity }),
		str("unit", func(d any) *string { return &cs(d).Unit }),
		str("energy_kwh", func(d any) *string { return &cs(d).EnergyKWh }),
		str("total_amount", func(d any) *string { return &cs(d).TotalAmount }),
		str("currency", func(d any) *string { return &cs(d).Currency }),
		str("invoice_ref", func(d any) *string { return &cs(d).InvoiceRef }),
		str("source_updated_at", func(d any) *string { return &cs(d).SourceUpdatedAt }),
		str("location.country_code", func(d any) *string { return &loc(d).CountryCode }),
		str("location.time_zone", func(d any) *string { return &loc(d).TimeZone }),
		str("token.type", func(d any) *string { return &tok(d).Type }),
		str("token.value", func(d any) *string { return &tok(d).Value }),
		mutation{"duration_seconds", func(d any, _ string, n int64, _ float64) { cs(d).DurationSeconds = &n }},
		mutation{"location.latitude", func(d any, _ string, _ int64, x float64) { loc(d).Latitude = &x }},
		mutation{"location.longitude", func(d any, _ string, _ int64, x float64) { loc(d).Longitude = &x }},
		mutation{"location=nil", func(d any, _ string, _ int64, _ float64) { cs(d).Location = nil }},
		mutation{"token=nil", func(d any, _ string, _ int64, _ float64) { cs(d).Token = nil }},
	),
	events.TypeInvoice: append(append(common(func(d any) (*string, *string, *string, *string, *events.Lineage) {
		c := inv(d)
		return &c.SchemaVersion, &c.ID, &c.Provider, &c.SourceID, &c.Lineage
	}), lineItemMutations(func(d any) *[]events.LineItem { return &inv(d).LineItems })...),
		str("issued_at", func(d any) *string { return &inv(d).IssuedAt }),
		str("period_start", func(d any) *string { return &inv(d).PeriodStart }),
		str("period_end", func(d any) *string { return &inv(d).PeriodEnd }),
		str("total_amount", func(d any) *string { return &inv(d).TotalAmount }),
		str("total_net", func(d any) *string { return &inv(d).TotalNet }),
		str("total_gross", func(d any) *string { return &inv(d).TotalGross }),
		str("currency", func(d any) *string { return &inv(d).Currency }),
		str("document_url", func(d any) *string { return &inv(d).DocumentURL }),
		str("source_updated_at", func(d any) *string { return &inv(d).SourceUpdatedAt }),
		str("session_ids[0]", func(d any) *string {
			if len(inv(d).SessionIDs) == 0 {
				inv(d).SessionIDs = []string{""}
			}
			return &inv(d).SessionIDs[0]
		}),
		mutation{"session_ids=null", func(d any, _ string, _ int64, _ float64) { inv(d).SessionIDs = nil }},
		mutation{"session_ids=[]", func(d any, _ string, _ int64, _ float64) { inv(d).SessionIDs = []string{} }},
	),
	events.TypeCostCenter: append(common(func(d any) (*string, *string, *string, *string, *events.Lineage) {
		c := cc(d)
		return &c.SchemaVersion, &c.ID, &c.Provider, &c.SourceID, &c.Lineage
	}),
		str("organization_id", func(d any) *string { return &cc(d).OrganizationID }),
		str("name", func(d any) *string { return &cc(d).Name }),
		str("description", func(d any) *string { return &cc(d).Description }),
		str("created_at", func(d any) *string { return &cc(d).CreatedAt }),
		str("updated_at", func(d any) *string { return &cc(d).UpdatedAt }),
	),
	events.TypeInvoiceLine: append(common(func(d any) (*string, *string, *string, *string, *events.Lineage) {
		c := il(d)
		return &c.SchemaVersion, &c.ID, &c.Provider, &c.SourceID, &c.Lineage
	}),
		str("invoice_id", func(d any) *string { return &il(d).InvoiceID }),
		str("account", func(d any) *string { return &il(d).Account }),
		str("status", func(d any) *string { return &il(d).Status }),
		str("product.code", func(d any) *string { return &il(d).Product.Code }),
		str("quantity", func(d any) *string { return &il(d).Quantity }),
		str("unit", func(d any) *string { return &il(d).Unit }),
		str("unit_price", func(d any) *string { return &il(d).UnitPrice }),
		str("amount", func(d any) *string { return &il(d).Amount }),
		str("net_amount", func(d any) *string { return &il(d).NetAmount }),
		str("gross_amount", func(d any) *string { return &il(d).GrossAmount }),
		str("currency", func(d any) *string { return &il(d).Currency }),
		str("time", func(d any) *string { return &il(d).Time }),
		str("source_updated_at", func(d any) *string { return &il(d).SourceUpdatedAt }),
	),
}

// fresh returns a deep copy of the example of typ, as a pointer to its Go type.
func fresh(t *testing.T, typ string) events.Data {
	b, err := json.Marshal(examples[typ])
	if err != nil {
		t.Fatal(err)
	}
	var d events.Data
	switch typ {
	case events.TypeChargingSession:
		d = &events.ChargingSession{}
	case events.TypeInvoice:
		d = &events.Invoice{}
	case events.TypeCostCenter:
		d = &events.CostCenter{}
	case events.TypeInvoiceLine:
		d = &events.InvoiceLine{}
	}
	if err := json.Unmarshal(b, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// seeds are values at the edges of the schemas' patterns and formats.
var seeds = []string{
	"", "1", "2", "bemo", "bemo:1", "Bemo:1", "bemo:", "bemo:\n", "bemo:a\nb", "b:é", "1bemo:x", "be_mo-2:x",
	"12.50", "-3", "-0.5", "1.", ".5", "+1", "1e3", "١٢", "1,5", " 1", "EUR", "eur", "EU", "EURO", "€UR", "DE",
	"2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.Z", "2024-02-30T00:00:00Z",
	"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2024-12-31T23:59:60Z", "2024-12-31T22:59:60Z",
	"2024-12-31T24:00:00Z", "2024-12-31T23:60:00Z", "2024-05-01T10:00:00+01:00", "2024-05-01t10:00:00z",
	"2024-05-01 10:00:00Z", "2024-13-01T00:00:00Z", "0000-01-01T00:00:00Z", "2024-05-01T10:00:61Z",
	"https://example.com/b.pdf", "/relative/b.pdf", "mailto:a@b.c", "http://[::1]/x", "http://[fe80::1%25en0]/x",
	"http://::1/x", "http://[::1/x", "%zz", "http://a b", "urn:x", "\x00", "\xff", "a\xffb",
	string(make([]byte, 255)), string(make([]byte, 256)),
}

// TestCheckMatchesSchemaOnEveryField: every seed value in every field of every type, one at a
// time, with n and x at and beyond the schemas' bounds: Check accepts exactly what the schema
// validator accepts.
func TestCheckMatchesSchemaOnEveryField(t *testing.T) {
	validators := schemaValidators(t)
	for typ, ms := range mutations {
		for _, m := range ms {
			for i, s := range seeds {
				n := []int64{-1, 0, 1, 1 << 40}[i%4]
				x := []float64{-180.5, -90.5, -90, 0, 90, 90.5, 180, 180.5}[i%8]
				d := fresh(t, typ)
				m.set(d, s, n, x)
				compare(t, validators, typ, d, fmt.Sprintf("%s=%q (n=%d, x=%v)", m.name, s, n, x))
			}
		}
	}
}

// FuzzCheckMatchesSchema holds events' Check methods to the JSON Schemas on combinations: example
// events with three fields set from the fuzzer's values. The normalizer relies on Check instead
// of validating every event's JSON; a rule added to a schema and not to Check fails here.
func FuzzCheckMatchesSchema(f *testing.F) {
	for i, s := range seeds {
		f.Add(uint16(i), s, seeds[(i*7+3)%len(seeds)], int64(i-3), float64(i*17%400)-200)
	}
	f.Add(uint16(9999), "x", "y", int64(0), math.Inf(1))
	validators := schemaValidators(f)
	types := eventschema.Types()
	f.Fuzz(func(t *testing.T, which uint16, s1, s2 string, n int64, x float64) {
		typ := types[int(which)%len(types)]
		d := fresh(t, typ)
		ms := mutations[typ]
		k := int(which) / len(types)
		var applied []string
		for _, s := range []string{s1, s2, s1 + s2} {
			m := ms[k%len(ms)]
			m.set(d, s, n, x)
			applied = append(applied, fmt.Sprintf("%s=%q", m.name, s))
			k = k/len(ms) + 1
		}
		compare(t, validators, typ, d, fmt.Sprintf("%v (n=%d, x=%v)", applied, n, x))
	})
}

func schemaValidators(t testing.TB) map[string]func([]byte) error {
	validators := map[string]func([]byte) error{}
	for _, typ := range eventschema.Types() {
		v, err := eventschema.Validator(typ)
		if err != nil {
			t.Fatal(err)
		}
		validators[typ] = func(b []byte) error { return eventschema.Validate(v, b) }
	}
	return validators
}

// compare fails t when Check and the schema disagree on d.
func compare(t *testing.T, validators map[string]func([]byte) error, typ string, d events.Data, what string) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		return // NaN or ±Inf: not JSON at all; NewEvent refuses it when encoding
	}
	checkErr, schemaErr := d.Check(), validators[typ](b)
	if (checkErr == nil) != (schemaErr == nil) {
		t.Fatalf("%s with %s:\nCheck:  %v\nschema: %v\n%s", typ, what, checkErr, schemaErr, b)
	}
}

// TestExamplesPassCheck: the fully populated examples pass Check as they pass the schemas, and
// NewEvent derives the envelope from them.
func TestExamplesPassCheck(t *testing.T) {
	raw := events.Raw{ID: "raw-1", Provider: "bemo", Resource: "sessions", Scope: "acc-1"}
	for typ := range examples {
		d := fresh(t, typ)
		if err := d.Check(); err != nil {
			t.Errorf("%s: Check: %v", typ, err)
		}
		ev, err := events.NewEvent(raw, d, raw.FetchedAt)
		if err != nil {
			t.Fatalf("%s: NewEvent: %v", typ, err)
		}
		if ev.Type != typ || ev.Source != raw.Source() || ev.Subject == "" || ev.ID == "" {
			t.Errorf("%s: envelope %+v", typ, ev)
		}
	}
}
