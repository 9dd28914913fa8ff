package mews_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedBills are Bill lines of an export file ("Export file entry"). The seed shows no entity,
// so they use the Connector API's Bill fields: a closed invoice with revenue in CZK (and an
// unknown field), and an open bill of a company without revenue.
var seedBills = []string{"exportfileentry_bill_closed", "exportfileentry_bill_open"}

// rawOf wraps a line as the poller would have published it on raw.mews.<resource>.
func rawOf(resource string, data []byte) events.Raw {
	var id struct{ Id string }
	_ = json.Unmarshal(data, &id)
	return events.Raw{
		ID:        events.RawID(mews.Name, resource, id.Id, data),
		Provider:  mews.Name,
		Resource:  resource,
		Scope:     "Bill",
		RecordID:  id.Id,
		FetchedAt: time.Date(2023, 10, 26, 12, 0, 0, 0, time.UTC),
		Data:      data,
		Sequence:  42,
	}
}

func billRaw(data []byte) events.Raw { return rawOf("bill", data) }

func invoiceSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	s, err := eventschema.Validator(events.TypeInvoice)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mapOne(t *testing.T, data []byte) events.Invoice {
	t.Helper()
	evs, err := mews.Provider{}.Map(billRaw(data))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("Map returned %d events, want 1", len(evs))
	}
	if err := eventschema.Validate(invoiceSchema(t), evs[0].Data); err != nil {
		t.Fatalf("event does not validate against invoice.v1: %v\n%s", err, evs[0].Data)
	}
	var inv events.Invoice
	if err := json.Unmarshal(evs[0].Data, &inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestMapGolden(t *testing.T) {
	for _, name := range seedBills {
		t.Run(name, func(t *testing.T) {
			data := bytes.TrimSpace(providertest.Testdata(t, name+".json"))
			evs, err := mews.Provider{}.Map(billRaw(data))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			for _, e := range evs {
				if err := eventschema.Validate(invoiceSchema(t), e.Data); err != nil {
					t.Errorf("event does not validate against invoice.v1: %v", err)
				}
			}
			providertest.Golden(t, name, evs)
		})
	}
}

// patch returns the closed seed bill with fields replaced (or deleted).
func patch(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return providertest.Patch(t, providertest.Testdata(t, seedBills[0]+".json"), fields)
}

// item is a revenue item with fields replaced (or deleted).
func item(fields map[string]any) map[string]any {
	amount := map[string]any{"Currency": "EUR", "NetValue": json.Number("10.0"), "GrossValue": json.Number("11.9")}
	m := map[string]any{"Id": "i1", "Type": "ProductRevenue", "SubType": nil, "Name": "Breakfast", "ConsumptionUtc": "2023-10-23T07:00:00Z", "Amount": amount}
	for k, v := range fields {
		if k == "Currency" || k == "NetValue" || k == "GrossValue" {
			if v == providertest.Deleted {
				delete(amount, k)
			} else {
				amount[k] = v
			}
			continue
		}
		if v == providertest.Deleted {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func items(list ...map[string]any) []any {
	out := make([]any, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

func TestMap(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		check func(t *testing.T, inv events.Invoice)
	}{
		{
			name:  "closed invoice maps every field",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedBills[0]+".json") },
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "id", inv.ID, "mews:e654f217-d1b5-46be-a820-e93ba568dfac")
				eq(t, "account", inv.Account, "c2730cbb-2f12-4e4d-a4c9-3a9b4a0d1e11")
				eq(t, "status", inv.Status, "Closed")
				eq(t, "issued_at", inv.IssuedAt, "2023-10-24T11:03:17.447Z")
				eq(t, "source_updated_at", inv.SourceUpdatedAt, "2023-10-24T11:03:18Z")
				eq(t, "totals", inv.TotalAmount+" "+inv.TotalGross+" "+inv.TotalNet+" "+inv.Currency, "5582.96 5582.96 4984.79 CZK")
				eq(t, "line 1", inv.LineItems[0].Product.Category+"/"+inv.LineItems[0].Product.Code+" "+inv.LineItems[0].Amount, "ServiceRevenue/Accommodation 5000.0")
				eq(t, "line 2 time", inv.LineItems[1].Time, "2023-10-23T07:45:00Z")
				if len(inv.SessionIDs) != 0 || inv.SessionIDs == nil {
					t.Errorf("session_ids %v, want []", inv.SessionIDs)
				}
			},
		},
		{
			name:  "open bill of a company: no issue time, no totals",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedBills[1]+".json") },
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "account", inv.Account, "7f3c1e9a-2b4d-4c6e-8f0a-1b2c3d4e5f60")
				eq(t, "status", inv.Status, "Open")
				eq(t, "issued_at", inv.IssuedAt, "")
				eq(t, "total", inv.TotalAmount+inv.Currency, "")
				if inv.LineItems == nil || len(inv.LineItems) != 0 {
					t.Errorf("line_items %v, want []", inv.LineItems)
				}
			},
		},
		{
			name: "no AccountId: the deprecated CustomerId",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"AccountId": providertest.Deleted, "CustomerId": "cust-9"})
			},
			check: func(t *testing.T, inv events.Invoice) { eq(t, "account", inv.Account, "cust-9") },
		},
		{
			name: "no AccountId nor CustomerId: the deprecated CompanyId",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"AccountId": nil, "CustomerId": nil, "CompanyId": "comp-1"})
			},
			check: func(t *testing.T, inv events.Invoice) { eq(t, "account", inv.Account, "comp-1") },
		},
		{
			name: "mixed currencies: lines kept, no total",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"Revenue": items(item(nil), item(map[string]any{"Currency": "czk", "GrossValue": num("100")}))})
			},
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "total", inv.TotalAmount+inv.TotalNet+inv.Currency, "")
				eq(t, "line 2", inv.LineItems[1].Amount+" "+inv.LineItems[1].Currency, "100 CZK")
			},
		},
		{
			name: "a line without NetValue: gross total only",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"Revenue": items(item(nil), item(map[string]any{"NetValue": providertest.Deleted}))})
			},
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "totals", inv.TotalAmount+" "+inv.TotalNet+" "+inv.Currency, "23.8  EUR")
			},
		},
		{
			name: "amounts add exactly, exponents and quoted numbers stay exact",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"Revenue": items(
					item(map[string]any{"GrossValue": num("0.1"), "NetValue": num("1e-1")}),
					item(map[string]any{"GrossValue": "0.2", "NetValue": num("0.2")}),
					item(map[string]any{"GrossValue": num("3E-1"), "NetValue": num("0.3")}))})
			},
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "totals", inv.TotalAmount+" "+inv.TotalNet, "0.6 0.6")
				eq(t, "line 3", inv.LineItems[2].Amount, "0.3")
			},
		},
		{
			name: "no IssuedUtc nor UpdatedUtc: the event time is CreatedUtc",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"IssuedUtc": nil, "UpdatedUtc": providertest.Deleted})
			},
			check: func(t *testing.T, inv events.Invoice) {
				eq(t, "issued_at", inv.IssuedAt, "")
				eq(t, "source_updated_at", inv.SourceUpdatedAt, "")
			},
		},
		{
			name:  "times without Z are UTC",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"IssuedUtc": "2023-10-24T11:03:17.5"}) },
			check: func(t *testing.T, inv events.Invoice) { eq(t, "issued_at", inv.IssuedAt, "2023-10-24T11:03:17.5Z") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mapOne(t, tc.input(t))) })
	}
}

func TestMapEventEnvelope(t *testing.T) {
	raw := billRaw(providertest.Testdata(t, seedBills[0]+".json"))
	evs, err := mews.Provider{}.Map(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if ev.Type != events.TypeInvoice || ev.Provider != "mews" || ev.Subject != "mews:e654f217-d1b5-46be-a820-e93ba568dfac" ||
		ev.Source != "/providers/mews/Bill" || !ev.Time.Equal(time.Date(2023, 10, 24, 11, 3, 17, 447e6, time.UTC)) ||
		ev.ID != events.EventID("mews", events.TypeInvoice, "e654f217-d1b5-46be-a820-e93ba568dfac", raw.ID) {
		t.Errorf("envelope %+v", ev)
	}
	var body struct{ Lineage events.Lineage }
	_ = json.Unmarshal(ev.Data, &body)
	if body.Lineage != (events.Lineage{RawID: raw.ID, RawStream: "RAW", RawSequence: 42, RawSubject: "raw.mews.bill"}) {
		t.Errorf("lineage %+v", body.Lineage)
	}
}

func TestMapOtherEntityTypesCarryNoEvent(t *testing.T) {
	for _, et := range mews.EntityTypes() {
		if et == mews.EntityBill || et == mews.EntityOrderItem {
			continue
		}
		evs, err := mews.Provider{}.Map(rawOf(mews.Resource(et), []byte(`{"Id":"x","anything":true}`)))
		if err != nil || evs != nil {
			t.Errorf("Map(%s) = %v, %v; want nil, nil (archived raw only)", et, evs, err)
		}
	}
	if _, err := (mews.Provider{}).Map(rawOf("invoice", []byte(`{}`))); !errors.Is(err, events.ErrUnmappable) {
		t.Errorf("Map of an unknown resource = %v, want ErrUnmappable", err)
	}
}

func TestMapEverySimulatedBillValidates(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 3, Records: 200, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	recs := providertest.FetchAll(t, newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow)), mews.EntityBill, "")
	schema := invoiceSchema(t)
	statuses := map[string]int{}
	for _, r := range recs {
		if r.Data == nil {
			continue
		}
		evs, err := mews.Provider{}.Map(billRaw(r.Data))
		if err != nil {
			t.Fatalf("Map(%s): %v", r.ID, err)
		}
		if err := eventschema.Validate(schema, evs[0].Data); err != nil {
			t.Fatalf("bill %s: %v\n%s", r.ID, err, evs[0].Data)
		}
		var inv events.Invoice
		_ = json.Unmarshal(evs[0].Data, &inv)
		statuses[inv.Status]++
		if inv.TotalAmount == "" || inv.Account == "" || (inv.Status == "Closed") != (inv.IssuedAt != "") {
			t.Errorf("bill %s: %+v", r.ID, inv)
		}
	}
	if statuses["Open"] == 0 || statuses["Closed"] == 0 {
		t.Errorf("statuses %v: want open and closed bills", statuses)
	}
}

func TestMapUnmappable(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name  string
		input func(*testing.T) []byte
	}{
		{"broken JSON", func(*testing.T) []byte { return []byte(`{"Id":`) }},
		{"a JSON array", func(*testing.T) []byte { return []byte(`[]`) }},
		{"JSON null", func(*testing.T) []byte { return []byte(`null`) }},
		{"data after the object", func(t *testing.T) []byte { return append(patch(t, nil), `{}`...) }},
		{"missing Id", func(t *testing.T) []byte { return patch(t, map[string]any{"Id": providertest.Deleted}) }},
		{"Id with a line break", func(t *testing.T) []byte { return patch(t, map[string]any{"Id": "a\nb"}) }},
		{"no time at all", func(t *testing.T) []byte {
			return patch(t, map[string]any{"IssuedUtc": nil, "UpdatedUtc": providertest.Deleted, "CreatedUtc": providertest.Deleted})
		}},
		{"malformed IssuedUtc", func(t *testing.T) []byte { return patch(t, map[string]any{"IssuedUtc": "24.10.2023"}) }},
		{"year 0001", func(t *testing.T) []byte { return patch(t, map[string]any{"CreatedUtc": "0001-01-01T00:00:00Z"}) }},
		{"numeric State", func(t *testing.T) []byte { return patch(t, map[string]any{"State": 3}) }},
		{"item without Amount", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"Amount": nil}))})
		}},
		{"item without GrossValue", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"GrossValue": providertest.Deleted}))})
		}},
		{"non-decimal GrossValue", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"GrossValue": "ten"}))})
		}},
		{"huge exponent", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"NetValue": num("1e400000")}))})
		}},
		{"currency not ISO 4217", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"Currency": "Kč"}))})
		}},
		{"bad ConsumptionUtc", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": items(item(map[string]any{"ConsumptionUtc": "yesterday"}))})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := mews.Provider{}.Map(billRaw(tc.input(t)))
			providertest.CheckUnmappable(t, evs, err)
		})
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

var decimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

func FuzzMap(f *testing.F) {
	for _, name := range seedBills {
		f.Add("bill", providertest.Testdata(f, name+".json"))
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"Id":"a","UpdatedUtc":"2023-10-24T11:03:18"}`,
		`{"Id":"a","CreatedUtc":"2023-10-24T11:03:18Z","Revenue":[{"Amount":{"Currency":"eur","GrossValue":1e30,"NetValue":-0.0}}]}`,
		`{"Id":"a","IssuedUtc":"9999-12-31T23:59:59.999999999Z","Revenue":[null]}`,
		`{"Id":" ","CreatedUtc":"2106-01-01T00:00:00Z"}`,
		`{"Id":"x","CreatedUtc":"2023-10-24T11:03:18+02:00","Revenue":[{"Amount":{"Currency":"EUR","GrossValue":"1E-31"}}]}`,
	} {
		f.Add("bill", []byte(s))
	}
	f.Add("bill", []byte(`{"Id":"a","UpdatedUtc":"2023-10-24T11:03:18Z","Amount":{"Currency":"EUR","GrossValue":1.5,"NetValue":"1e0"},"Revenue":null}`))
	for _, name := range seedOrderItems {
		f.Add("orderitem", providertest.Testdata(f, name+".json"))
	}
	f.Add("orderitem", []byte(`{"Id":"o","BillId":" ","UnitCount":1e3,"ConsumedUtc":"2023-10-24T11:03:18Z","Amount":{"Currency":"eur","GrossValue":-0.0}}`))
	f.Add("payment", []byte(`{"Id":"p"}`))
	f.Add("bills", []byte(`{"Id":"p"}`))
	schemas := map[string]*jsonschema.Schema{events.TypeInvoice: invoiceSchema(f), events.TypeInvoiceLine: lineSchema(f)}
	want := map[string]string{"bill": events.TypeInvoice, "orderitem": events.TypeInvoiceLine}
	f.Fuzz(func(t *testing.T, resource string, data []byte) {
		evs, ok := providertest.CheckMap(t, mews.Provider{}, rawOf(resource, data))
		if !ok {
			return
		}
		if want[resource] == "" && evs != nil {
			t.Fatalf("resource %q mapped to %d events", resource, len(evs))
		}
		for _, ev := range evs {
			if ev.Type != want[resource] {
				t.Fatalf("resource %q mapped to a %s event", resource, ev.Type)
			}
			if err := eventschema.Validate(schemas[ev.Type], ev.Data); err != nil {
				t.Fatalf("event does not validate: %v\n%s", err, ev.Data)
			}
			var body struct {
				events.Invoice
				Amount      string `json:"amount"`
				NetAmount   string `json:"net_amount"`
				GrossAmount string `json:"gross_amount"`
				UnitPrice   string `json:"unit_price"`
				Quantity    string `json:"quantity"`
			}
			if err := json.Unmarshal(ev.Data, &body); err != nil {
				t.Fatalf("event data: %v", err)
			}
			inv := body.Invoice
			money := []string{inv.TotalAmount, inv.TotalNet, inv.TotalGross, body.Amount, body.NetAmount, body.GrossAmount, body.UnitPrice, body.Quantity}
			for _, l := range inv.LineItems {
				money = append(money, l.Amount)
			}
			for _, m := range money {
				if m != "" && !decimalRE.MatchString(m) {
					t.Fatalf("%q is not a decimal string", m)
				}
			}
		}
	})
}

func BenchmarkMap(b *testing.B) {
	raw := billRaw(bytes.TrimSpace(providertest.Testdata(b, seedBills[0]+".json")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (mews.Provider{}).Map(raw); err != nil {
			b.Fatal(err)
		}
	}
}
