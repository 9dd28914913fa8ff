package eventschema_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/events"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

func ptr[T any](v T) *T { return &v }

var lineage = events.Lineage{RawID: "0f3c9a", RawStream: "RAW", RawSequence: 42, RawSubject: "raw.bemo.sessions"}

// examples holds one fully populated event per type: every field the Go type has is set, so a
// field the schema does not know fails validation.
var examples = map[string]any{
	events.TypeChargingSession: events.ChargingSession{
		SchemaVersion: events.SchemaVersion, ID: "bemo:3fc8e82f-ec81-4ba3-a021-00d9db4c86db", Provider: "bemo",
		SourceID: "3fc8e82f-ec81-4ba3-a021-00d9db4c86db", Account: "acc-1", Status: "COMPLETED",
		StartedAt: "2021-02-11T03:37:49Z", EndedAt: "2021-02-11T03:38:10Z", DurationSeconds: ptr(int64(21)),
		Location: &events.Location{
			ID: "ND020438", Name: "BERLIN HOLZMARKTSTR. 36-42", Address: "HOLZMARKTSTR. 36-42", PostalCode: "10243",
			City: "BERLIN", CountryCode: "DE", Latitude: ptr(52.511399), Longitude: ptr(13.428477), Operator: "Total",
			StoreNumber: "17", TimeZone: "+01:00",
		},
		Token:     &events.Token{Type: "rfid", Value: "123456789"},
		VehicleID: "ba7a3db7-a7de-42d9-8d16-f4bc7bc687a1", Quantity: "16.53", Unit: "L", EnergyKWh: "0",
		Product: &events.Product{Category: "Fueling", Family: "Diesel", Code: "B7"},
		LineItems: []events.LineItem{{
			Product: events.Product{Category: "Fueling", Family: "Diesel", Code: "B7"}, Quantity: "16.53", Unit: "L",
			UnitPrice: "1.21", Amount: "20.0", Currency: "EUR", Time: "2021-02-11T03:38:10Z",
		}},
		TotalAmount: "20.0", Currency: "EUR", InvoiceRef: "plugsurfing:b-1", CostCenterRef: "inpost:7",
		SourceUpdatedAt: "2021-02-11T03:38:10.123Z", Lineage: lineage,
	},
	events.TypeInvoice: events.Invoice{
		SchemaVersion: events.SchemaVersion, ID: "plugsurfing:b-1", Provider: "plugsurfing", SourceID: "b-1",
		Account: "user-1", IssuedAt: "2015-03-04T12:32:12Z", PeriodStart: "2015-02-01T00:00:00Z",
		PeriodEnd: "2015-03-01T00:00:00Z", Status: "Closed", TotalAmount: "12.10", TotalNet: "10.00",
		TotalGross: "12.10", Currency: "EUR",
		LineItems:  []events.LineItem{{Product: events.Product{Code: "charging"}, Amount: "12.10", Currency: "EUR"}},
		SessionIDs: []string{"plugsurfing:s-1", "plugsurfing:s-2"}, DocumentURL: "https://example.com/bills/b-1.pdf",
		SourceUpdatedAt: "2015-03-04T12:32:12Z", Lineage: lineage,
	},
	events.TypeCostCenter: events.CostCenter{
		SchemaVersion: events.SchemaVersion, ID: "inpost:7", Provider: "inpost", SourceID: "7", OrganizationID: "org-1",
		Name: "Sales", Description: "sales department", CreatedAt: "2020-01-02T03:04:05Z",
		UpdatedAt: "2020-01-02T03:04:05Z", Lineage: lineage,
	},
	events.TypeInvoiceLine: events.InvoiceLine{
		SchemaVersion: events.SchemaVersion, ID: "mews:0b6ac8a8-9c1e-4a41-9f5a-2a4b0c1d2e3f", Provider: "mews",
		SourceID: "0b6ac8a8-9c1e-4a41-9f5a-2a4b0c1d2e3f", InvoiceID: "mews:b-1", Account: "acc-1", Status: "Closed",
		Product:  events.Product{Category: "Service", Family: "SpaceOrder", Code: "Accommodation"},
		Quantity: "2", Unit: "night", UnitPrice: "107.0", Amount: "214.0", NetAmount: "200.0", GrossAmount: "214.0",
		Currency: "EUR", Time: "2026-11-02T14:00:00Z", SourceUpdatedAt: "2026-11-03T10:00:00Z", Lineage: lineage,
	},
}

func TestEveryTypeHasSchemaAndExample(t *testing.T) {
	want := []string{events.TypeChargingSession, events.TypeCostCenter, events.TypeInvoice, events.TypeInvoiceLine}
	if got := eventschema.Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	for _, typ := range want {
		if _, err := eventschema.Validator(typ); err != nil {
			t.Errorf("Validator(%q): %v", typ, err)
		}
		if _, ok := examples[typ]; !ok {
			t.Errorf("no example for %s", typ)
		}
	}
	if _, err := eventschema.Validator("parking"); err == nil {
		t.Error("Validator(parking) compiled a schema that does not exist")
	}
}

func TestExamplesValidate(t *testing.T) {
	for typ, ex := range examples {
		t.Run(typ, func(t *testing.T) {
			s, err := eventschema.Validator(typ)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			if err := eventschema.Validate(s, b); err != nil {
				t.Fatalf("valid example rejected: %v", err)
			}
		})
	}
}

// TestSchemaMatchesGoType compares each schema with its Go type: the same property names, and
// required exactly where the JSON tag has no omitempty, for the top level and every nested object.
func TestSchemaMatchesGoType(t *testing.T) {
	for typ, ex := range examples {
		t.Run(typ, func(t *testing.T) {
			b, err := eventschema.FS().(interface{ ReadFile(string) ([]byte, error) }).ReadFile(typ + ".v1.schema.json")
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			compareObject(t, typ, reflect.TypeOf(ex), doc, doc["$defs"].(map[string]any))
		})
	}
}

func compareObject(t *testing.T, path string, rt reflect.Type, node, defs map[string]any) {
	t.Helper()
	node = resolve(node, defs)
	if node["additionalProperties"] != false {
		t.Errorf("%s: additionalProperties is not false", path)
	}
	props, _ := node["properties"].(map[string]any)
	var required []string
	req, _ := node["required"].([]any)
	for _, r := range req {
		required = append(required, r.(string))
	}
	seen := map[string]bool{}
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		seen[name] = true
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s.%s: in the Go type, not in the schema", path, name)
			continue
		}
		if req := slices.Contains(required, name); req == (opts == "omitempty") {
			t.Errorf("%s.%s: required=%v in the schema but the JSON tag is %q", path, name, req, f.Tag.Get("json"))
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			compareObject(t, path+"."+name, ft, p, defs)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			compareObject(t, path+"."+name+"[]", ft.Elem(), resolve(p, defs)["items"].(map[string]any), defs)
		}
	}
	for name := range props {
		if !seen[name] {
			t.Errorf("%s.%s: in the schema, not in the Go type", path, name)
		}
	}
}

func resolve(node, defs map[string]any) map[string]any {
	if ref, ok := node["$ref"].(string); ok {
		return defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	return node
}

func TestRejects(t *testing.T) {
	s, err := eventschema.Validator(events.TypeChargingSession)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(m map[string]any)
	}{
		{"float money", func(m map[string]any) { m["total_amount"] = 20.0 }},
		{"float line item amount", func(m map[string]any) { item(m)["amount"] = 20.5 }},
		{"money with exponent", func(m map[string]any) { m["total_amount"] = "1.5e2" }},
		{"money with comma", func(m map[string]any) { m["total_amount"] = "20,00" }},
		{"time with offset", func(m map[string]any) { m["started_at"] = "2021-02-11T04:37:49+01:00" }},
		{"time without zone", func(m map[string]any) { m["ended_at"] = "2021-02-11T03:38:10" }},
		{"date only", func(m map[string]any) { m["source_updated_at"] = "2021-02-11" }},
		{"impossible date", func(m map[string]any) { m["started_at"] = "2021-02-31T03:37:49Z" }},
		{"unknown top-level field", func(m map[string]any) { m["vat"] = "19" }},
		{"unknown location field", func(m map[string]any) { m["location"].(map[string]any)["floor"] = "2" }},
		{"unknown line item field", func(m map[string]any) { item(m)["discount"] = "1" }},
		{"unknown lineage field", func(m map[string]any) { m["lineage"].(map[string]any)["raw_offset"] = 1 }},
		{"missing lineage", func(m map[string]any) { delete(m, "lineage") }},
		{"lineage without sequence", func(m map[string]any) { delete(m["lineage"].(map[string]any), "raw_sequence") }},
		{"missing id", func(m map[string]any) { delete(m, "id") }},
		{"id without provider prefix", func(m map[string]any) { m["id"] = "3fc8e82f" }},
		{"wrong schema version", func(m map[string]any) { m["schema_version"] = "2" }},
		{"lower-case currency", func(m map[string]any) { m["currency"] = "eur" }},
		{"line item without currency", func(m map[string]any) { delete(item(m), "currency") }},
		{"null line items", func(m map[string]any) { m["line_items"] = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(examples[events.TypeChargingSession])
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			tt.change(m)
			b, _ = json.Marshal(m)
			if err := eventschema.Validate(s, b); err == nil {
				t.Fatalf("accepted %s", b)
			}
		})
	}
}

func item(m map[string]any) map[string]any {
	return m["line_items"].([]any)[0].(map[string]any)
}

func TestRejectsInvoiceAndCostCenter(t *testing.T) {
	tests := []struct {
		name, typ string
		change    func(m map[string]any)
	}{
		{"invoice float total", events.TypeInvoice, func(m map[string]any) { m["total_gross"] = 12.1 }},
		{"invoice non-UTC issue time", events.TypeInvoice, func(m map[string]any) { m["issued_at"] = "2015-03-04T13:32:12+01:00" }},
		{"invoice unknown field", events.TypeInvoice, func(m map[string]any) { m["pdf"] = "x" }},
		{"invoice session id not canonical", events.TypeInvoice, func(m map[string]any) { m["session_ids"] = []any{"s-1"} }},
		{"invoice missing lineage", events.TypeInvoice, func(m map[string]any) { delete(m, "lineage") }},
		{"cost center unknown field", events.TypeCostCenter, func(m map[string]any) { m["code"] = "x" }},
		{"cost center non-UTC time", events.TypeCostCenter, func(m map[string]any) { m["updated_at"] = "2020-01-02T04:04:05+01:00" }},
		{"cost center empty name", events.TypeCostCenter, func(m map[string]any) { m["name"] = "" }},
		{"cost center missing lineage", events.TypeCostCenter, func(m map[string]any) { delete(m, "lineage") }},
		{"invoice line float amount", events.TypeInvoiceLine, func(m map[string]any) { m["amount"] = 214.0 }},
		{"invoice line without amount", events.TypeInvoiceLine, func(m map[string]any) { delete(m, "amount") }},
		{"invoice line without currency", events.TypeInvoiceLine, func(m map[string]any) { delete(m, "currency") }},
		{"invoice line invoice id not canonical", events.TypeInvoiceLine, func(m map[string]any) { m["invoice_id"] = "b-1" }},
		{"invoice line unknown field", events.TypeInvoiceLine, func(m map[string]any) { m["bill_id"] = "b-1" }},
		{"invoice line missing lineage", events.TypeInvoiceLine, func(m map[string]any) { delete(m, "lineage") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := eventschema.Validator(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(examples[tt.typ])
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			tt.change(m)
			b, _ = json.Marshal(m)
			if err := eventschema.Validate(s, b); err == nil {
				t.Fatalf("accepted %s", b)
			}
		})
	}
}
