package mews_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedOrderItems are OrderItem lines of an export file, with the Connector API's OrderItem
// fields (the seed shows no entity): a closed night on the bill of exportfileentry_bill_closed,
// and an open rebate on no bill yet.
var seedOrderItems = []string{"exportfileentry_orderitem_billed", "exportfileentry_orderitem_open"}

func orderItemRaw(data []byte) events.Raw { return rawOf("orderitem", data) }

func lineSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	s, err := eventschema.Validator(events.TypeInvoiceLine)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mapLine(t *testing.T, data []byte) (events.Event, events.InvoiceLine) {
	t.Helper()
	evs, err := mews.Provider{}.Map(orderItemRaw(data))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("Map returned %d events, want 1", len(evs))
	}
	if err := eventschema.Validate(lineSchema(t), evs[0].Data); err != nil {
		t.Fatalf("event does not validate against invoice_line.v1: %v\n%s", err, evs[0].Data)
	}
	var l events.InvoiceLine
	if err := json.Unmarshal(evs[0].Data, &l); err != nil {
		t.Fatal(err)
	}
	return evs[0], l
}

func TestMapOrderItemGolden(t *testing.T) {
	for _, name := range seedOrderItems {
		t.Run(name, func(t *testing.T) {
			data := bytes.TrimSpace(providertest.Testdata(t, name+".json"))
			mapLine(t, data) // validates
			evs, err := mews.Provider{}.Map(orderItemRaw(data))
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, name, evs)
		})
	}
}

// patchItem returns the billed seed order item with fields replaced (or deleted).
func patchItem(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return providertest.Patch(t, providertest.Testdata(t, seedOrderItems[0]+".json"), fields)
}

func TestMapOrderItem(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		check func(t *testing.T, ev events.Event, l events.InvoiceLine)
	}{
		{
			name:  "a billed night maps every field",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedOrderItems[0]+".json") },
			check: func(t *testing.T, ev events.Event, l events.InvoiceLine) {
				eq(t, "id", l.ID, "mews:5ee074b1-6c86-48e8-915f-c7aa4702086f")
				eq(t, "invoice_id", l.InvoiceID, "mews:e654f217-d1b5-46be-a820-e93ba568dfac")
				eq(t, "account", l.Account, "c2730cbb-2f12-4e4d-a4c9-3a9b4a0d1e11")
				eq(t, "status", l.Status, "Closed")
				eq(t, "product", l.Product.Category+"/"+l.Product.Family+"/"+l.Product.Code, "Service/SpaceOrder/Accommodation")
				eq(t, "quantity × unit price", l.Quantity+" × "+l.UnitPrice, "2 × 2500.0")
				eq(t, "money", l.Amount+" "+l.GrossAmount+" "+l.NetAmount+" "+l.Currency, "5000.0 5000.0 4464.29 CZK")
				eq(t, "time", l.Time, "2023-10-22T22:00:00Z")
				eq(t, "source_updated_at", l.SourceUpdatedAt, "2023-10-24T11:03:18Z")
				if ev.Type != events.TypeInvoiceLine || ev.Subject != l.ID || ev.Time.Format("2006-01-02T15:04:05Z") != "2023-10-22T22:00:00Z" ||
					ev.NATSSubject() != "events.invoice_line.v1.mews" {
					t.Errorf("envelope %+v", ev)
				}
			},
		},
		{
			name:  "an open rebate on no bill yet: no invoice_id, negative money",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedOrderItems[1]+".json") },
			check: func(t *testing.T, _ events.Event, l events.InvoiceLine) {
				eq(t, "invoice_id", l.InvoiceID, "")
				eq(t, "status", l.Status, "Open")
				eq(t, "money", l.Amount+" "+l.NetAmount+" "+l.Currency, "-10.0 -9.35 EUR")
				eq(t, "code", l.Product.Code, "")
			},
		},
		{
			name: "no UnitAmount, no UnitCount: no unit price, no quantity",
			input: func(t *testing.T) []byte {
				return patchItem(t, map[string]any{"UnitAmount": nil, "UnitCount": providertest.Deleted})
			},
			check: func(t *testing.T, _ events.Event, l events.InvoiceLine) {
				eq(t, "quantity, unit price", l.Quantity+l.UnitPrice, "")
			},
		},
		{
			name: "no NetValue: gross only",
			input: func(t *testing.T) []byte {
				return patchItem(t, map[string]any{"Amount": map[string]any{"Currency": "czk", "GrossValue": num("5000.00")}})
			},
			check: func(t *testing.T, _ events.Event, l events.InvoiceLine) {
				eq(t, "money", l.Amount+"|"+l.NetAmount+"|"+l.Currency, "5000.00||CZK")
			},
		},
		{
			name:  "no ConsumedUtc: the event time is UpdatedUtc",
			input: func(t *testing.T) []byte { return patchItem(t, map[string]any{"ConsumedUtc": providertest.Deleted}) },
			check: func(t *testing.T, ev events.Event, l events.InvoiceLine) {
				eq(t, "time", l.Time, "")
				eq(t, "event time", ev.Time.Format("2006-01-02T15:04:05Z"), "2023-10-24T11:03:18Z")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, l := mapLine(t, tc.input(t))
			tc.check(t, ev, l)
		})
	}
}

func TestMapOrderItemUnmappable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"missing Id", map[string]any{"Id": providertest.Deleted}},
		{"BillId with a line break", map[string]any{"BillId": "a\nb"}},
		{"no Amount", map[string]any{"Amount": nil}},
		{"no GrossValue", map[string]any{"Amount": map[string]any{"Currency": "CZK", "NetValue": json.Number("1")}}},
		{"currency not ISO 4217", map[string]any{"Amount": map[string]any{"Currency": "Kč", "GrossValue": json.Number("1")}}},
		{"non-decimal UnitAmount", map[string]any{"UnitAmount": map[string]any{"Currency": "CZK", "GrossValue": "many"}}},
		{"non-numeric UnitCount", map[string]any{"UnitCount": "two"}},
		{"malformed ConsumedUtc", map[string]any{"ConsumedUtc": "22.10.2023"}},
		{"no time at all", map[string]any{"ConsumedUtc": nil, "UpdatedUtc": providertest.Deleted, "CreatedUtc": providertest.Deleted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := mews.Provider{}.Map(orderItemRaw(patchItem(t, tc.fields)))
			providertest.CheckUnmappable(t, evs, err)
		})
	}
}

// A bill's totals come from its own Amount when it has one, else from its Revenue items; one
// with neither has no totals (its money is in the OrderItem export: ClickHouse view
// invoice_totals).
func TestMapBillMoney(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	own := map[string]any{"Currency": "CZK", "NetValue": num("4984.79"), "GrossValue": num("5582.96")}
	tests := []struct {
		name   string
		input  func(t *testing.T) []byte
		totals string // total_amount total_gross total_net currency
		lines  int
	}{
		{"own Amount, Revenue null", func(t *testing.T) []byte { return providertest.Testdata(t, "exportfileentry_bill_amount.json") },
			"5582.96 5582.96 4984.79 CZK", 0},
		{"own Amount, no Revenue field", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Amount": own, "Revenue": providertest.Deleted})
		}, "5582.96 5582.96 4984.79 CZK", 0},
		{"own Amount wins over Revenue", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Amount": map[string]any{"Currency": "CZK", "GrossValue": num("5600"), "NetValue": num("5000")}})
		}, "5600 5600 5000 CZK", 2},
		{"own Amount without NetValue: no net total", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Amount": map[string]any{"Currency": "czk", "GrossValue": num("5582.96")}, "Revenue": []any{}})
		}, "5582.96 5582.96  CZK", 0},
		{"Amount null: Revenue totals", func(t *testing.T) []byte { return patch(t, map[string]any{"Amount": nil}) },
			"5582.96 5582.96 4984.79 CZK", 2},
		{"empty Amount: Revenue totals", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Amount": map[string]any{"Currency": "CZK"}})
		},
			"5582.96 5582.96 4984.79 CZK", 2},
		{"no Amount, Revenue empty: no totals", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": []any{}})
		}, "   ", 0},
		{"no Amount, Revenue null: no totals", func(t *testing.T) []byte {
			return patch(t, map[string]any{"Revenue": nil})
		}, "   ", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mapOne(t, tc.input(t))
			eq(t, "totals", inv.TotalAmount+" "+inv.TotalGross+" "+inv.TotalNet+" "+inv.Currency, tc.totals)
			if len(inv.LineItems) != tc.lines {
				t.Errorf("%d line items, want %d", len(inv.LineItems), tc.lines)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		amount map[string]any
	}{
		{"own Amount with NetValue but no GrossValue", map[string]any{"Currency": "CZK", "NetValue": num("1")}},
		{"own Amount in no ISO 4217 currency", map[string]any{"Currency": "Kč", "GrossValue": num("1")}},
		{"own Amount not a decimal", map[string]any{"Currency": "CZK", "GrossValue": "lots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := mews.Provider{}.Map(billRaw(patch(t, map[string]any{"Amount": tc.amount})))
			providertest.CheckUnmappable(t, evs, err)
		})
	}
}

func TestMapBillAmountGolden(t *testing.T) {
	evs, err := mews.Provider{}.Map(billRaw(bytes.TrimSpace(providertest.Testdata(t, "exportfileentry_bill_amount.json"))))
	if err != nil {
		t.Fatal(err)
	}
	providertest.Golden(t, "exportfileentry_bill_amount", evs)
}
