package events

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The canonical types encode themselves: encoding/json's reflection was a sixth of the
// normalizer's CPU in its `make bench` profile (json.Marshal of every event in NewEvent). The
// output is json.Marshal's, byte for byte — the same field order, omitempty, null for a nil
// slice, HTML-safe escaping, float format — and FuzzEncodeAgreesWithEncodingJSON holds it
// there. What this writer does not do itself (a string with a byte to escape or a multi-byte
// rune it cannot pass as is, a float that is not finite) it hands to encoding/json, so a rare
// input costs an allocation, never a different byte.

// object writes one JSON object's members into b.
type object struct {
	b     []byte
	first bool
	// bad: a value that json.Marshal refuses (a NaN or infinite float); the caller lets
	// json.Marshal say why.
	bad bool
}

func (o *object) open()  { o.b = append(o.b, '{'); o.first = true }
func (o *object) close() { o.b = append(o.b, '}'); o.first = false }

// key writes the separator and the key, which is a field name of ours: plain ASCII.
func (o *object) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *object) str(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v)
}

// optStr is a string field tagged omitempty.
func (o *object) optStr(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *object) optInt(k string, v *int64) {
	if v != nil {
		o.key(k)
		o.b = strconv.AppendInt(o.b, *v, 10)
	}
}

func (o *object) optFloat(k string, v *float64) {
	if v == nil {
		return
	}
	o.key(k)
	f := *v
	if math.IsNaN(f) || math.IsInf(f, 0) {
		o.bad = true
		return
	}
	// encoding/json's format: the shortest decimal, in exponent form only for very small or
	// very large magnitudes, with a one-digit negative exponent unpadded (1e-7, not 1e-07).
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	o.b = strconv.AppendFloat(o.b, f, format, -1, 64)
	if format == 'e' {
		if n := len(o.b); n >= 4 && o.b[n-4] == 'e' && o.b[n-3] == '-' && o.b[n-2] == '0' {
			o.b[n-2] = o.b[n-1]
			o.b = o.b[:n-1]
		}
	}
}

func (o *object) strings(k string, v []string) {
	o.key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

func (o *object) lineItems(k string, v []LineItem) {
	o.key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		v[i].encode(o)
	}
	o.b = append(o.b, ']')
}

// appendString appends s quoted as json.Marshal quotes it: printable ASCII other than " \ < > &
// and valid multi-byte runes other than U+2028 and U+2029 pass as they are; a string with
// anything else goes to encoding/json whole.
func appendString(b []byte, s string) []byte {
	i := 0
	for i < len(s) {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return appendQuoted(b, s)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendQuoted(b, s)
		}
		i += size
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain: the ASCII bytes json.Marshal writes as they are (a table: one load per byte, not six
// comparisons).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func appendQuoted(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a Go string always encodes
		panic(err)
	}
	return append(b, q...)
}

// identity opens an event's object with the four members every canonical type starts with.
func (o *object) identity(schemaVersion, id, provider, sourceID string) {
	o.open()
	o.str("schema_version", schemaVersion)
	o.str("id", id)
	o.str("provider", provider)
	o.str("source_id", sourceID)
}

func (lin Lineage) encode(o *object) {
	o.open()
	o.str("raw_id", lin.RawID)
	o.str("raw_stream", lin.RawStream)
	o.key("raw_sequence")
	o.b = strconv.AppendUint(o.b, lin.RawSequence, 10)
	o.str("raw_subject", lin.RawSubject)
	o.close()
}

func (p Product) encode(o *object) {
	o.open()
	o.optStr("category", p.Category)
	o.optStr("family", p.Family)
	o.optStr("code", p.Code)
	o.close()
}

func (li *LineItem) encode(o *object) {
	o.open()
	o.key("product")
	li.Product.encode(o)
	o.optStr("quantity", li.Quantity)
	o.optStr("unit", li.Unit)
	o.optStr("unit_price", li.UnitPrice)
	o.str("amount", li.Amount)
	o.str("currency", li.Currency)
	o.optStr("time", li.Time)
	o.close()
}

func (l *Location) encode(o *object) {
	o.open()
	o.optStr("id", l.ID)
	o.optStr("name", l.Name)
	o.optStr("address", l.Address)
	o.optStr("postal_code", l.PostalCode)
	o.optStr("city", l.City)
	o.optStr("country_code", l.CountryCode)
	o.optFloat("latitude", l.Latitude)
	o.optFloat("longitude", l.Longitude)
	o.optStr("operator", l.Operator)
	o.optStr("store_number", l.StoreNumber)
	o.optStr("time_zone", l.TimeZone)
	o.close()
}

func (cs *ChargingSession) encode(o *object) {
	o.identity(cs.SchemaVersion, cs.ID, cs.Provider, cs.SourceID)
	o.str("account", cs.Account)
	o.str("status", cs.Status)
	o.optStr("started_at", cs.StartedAt)
	o.optStr("ended_at", cs.EndedAt)
	o.optInt("duration_seconds", cs.DurationSeconds)
	if cs.Location != nil {
		o.key("location")
		cs.Location.encode(o)
	}
	if cs.Token != nil {
		o.key("token")
		o.open()
		o.str("type", cs.Token.Type)
		o.str("value", cs.Token.Value)
		o.close()
	}
	o.optStr("vehicle_id", cs.VehicleID)
	o.optStr("quantity", cs.Quantity)
	o.optStr("unit", cs.Unit)
	o.optStr("energy_kwh", cs.EnergyKWh)
	if cs.Product != nil {
		o.key("product")
		cs.Product.encode(o)
	}
	o.lineItems("line_items", cs.LineItems)
	o.optStr("total_amount", cs.TotalAmount)
	o.optStr("currency", cs.Currency)
	o.optStr("invoice_ref", cs.InvoiceRef)
	o.optStr("cost_center_ref", cs.CostCenterRef)
	o.optStr("source_updated_at", cs.SourceUpdatedAt)
	o.key("lineage")
	cs.Lineage.encode(o)
	o.close()
}

func (inv *Invoice) encode(o *object) {
	o.identity(inv.SchemaVersion, inv.ID, inv.Provider, inv.SourceID)
	o.str("account", inv.Account)
	o.optStr("issued_at", inv.IssuedAt)
	o.optStr("period_start", inv.PeriodStart)
	o.optStr("period_end", inv.PeriodEnd)
	o.optStr("status", inv.Status)
	o.optStr("total_amount", inv.TotalAmount)
	o.optStr("total_net", inv.TotalNet)
	o.optStr("total_gross", inv.TotalGross)
	o.optStr("currency", inv.Currency)
	o.lineItems("line_items", inv.LineItems)
	o.strings("session_ids", inv.SessionIDs)
	o.optStr("document_url", inv.DocumentURL)
	o.optStr("source_updated_at", inv.SourceUpdatedAt)
	o.key("lineage")
	inv.Lineage.encode(o)
	o.close()
}

func (cc *CostCenter) encode(o *object) {
	o.identity(cc.SchemaVersion, cc.ID, cc.Provider, cc.SourceID)
	o.str("organization_id", cc.OrganizationID)
	o.str("name", cc.Name)
	o.str("description", cc.Description)
	o.optStr("created_at", cc.CreatedAt)
	o.optStr("updated_at", cc.UpdatedAt)
	o.key("lineage")
	cc.Lineage.encode(o)
	o.close()
}

func (il *InvoiceLine) encode(o *object) {
	o.identity(il.SchemaVersion, il.ID, il.Provider, il.SourceID)
	o.optStr("invoice_id", il.InvoiceID)
	o.str("account", il.Account)
	o.optStr("status", il.Status)
	o.key("product")
	il.Product.encode(o)
	o.optStr("quantity", il.Quantity)
	o.optStr("unit", il.Unit)
	o.optStr("unit_price", il.UnitPrice)
	o.str("amount", il.Amount)
	o.optStr("net_amount", il.NetAmount)
	o.optStr("gross_amount", il.GrossAmount)
	o.str("currency", il.Currency)
	o.optStr("time", il.Time)
	o.optStr("source_updated_at", il.SourceUpdatedAt)
	o.key("lineage")
	il.Lineage.encode(o)
	o.close()
}

// encodeData is json.Marshal(data) for the four canonical types.
func encodeData(data Data) ([]byte, error) {
	o := object{b: make([]byte, 0, sizeHint(data))}
	switch d := data.(type) {
	case ChargingSession:
		d.encode(&o)
	case *ChargingSession:
		d.encode(&o)
	case Invoice:
		d.encode(&o)
	case *Invoice:
		d.encode(&o)
	case CostCenter:
		d.encode(&o)
	case *CostCenter:
		d.encode(&o)
	case InvoiceLine:
		d.encode(&o)
	case *InvoiceLine:
		d.encode(&o)
	default:
		return json.Marshal(data)
	}
	if o.bad {
		return json.Marshal(data)
	}
	return o.b, nil
}

// sizeHint is about the size of data's encoding, so that it is built in one allocation: a
// record's fixed fields, and its line items and session ids.
func sizeHint(data Data) int {
	n := 768
	switch d := data.(type) {
	case ChargingSession:
		n += 256 * len(d.LineItems)
	case *ChargingSession:
		n += 256 * len(d.LineItems)
	case Invoice:
		n += 256*len(d.LineItems) + 48*len(d.SessionIDs)
	case *Invoice:
		n += 256*len(d.LineItems) + 48*len(d.SessionIDs)
	}
	return n
}
