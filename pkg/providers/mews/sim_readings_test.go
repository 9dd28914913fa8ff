package mews_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// exported returns every line of one full export of entityType (no scope, the whole span).
func exported(t *testing.T, s *mews.Simulator, entityType string) []byte {
	t.Helper()
	e := succeed(t, s, entityType, nil)
	var all []byte
	for _, f := range e.Files {
		all = append(all, do(t, s, httptest.NewRequest(http.MethodGet, f.URL, nil)).body...)
	}
	return all
}

// TestSimulatorDefaultOutputUnchanged: the default reading (BillMoney "") serves byte for byte
// what the simulator served before the other readings existed; testdata/sim_default.sha256
// holds the SHA-256 of every entity type's export for seed 9, 60 records, written before them (never rewritten: a change here changes every default run).
func TestSimulatorDefaultOutputUnchanged(t *testing.T) {
	for _, money := range []string{"", "revenue"} {
		s := mews.NewSimulator(sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow), Readings: sim.Readings{BillMoney: money}})
		var b strings.Builder
		for _, et := range mews.EntityTypes() {
			sum := sha256.Sum256(exported(t, s, et))
			fmt.Fprintf(&b, "%s %s\n", et, hex.EncodeToString(sum[:]))
		}
		if want := string(providertest.Testdata(t, "sim_default.sha256")); b.String() != want {
			t.Errorf("BillMoney %q: the simulator's output changed:\n%s\nwant:\n%s", money, b.String(), want)
		}
	}
}

// jsonLines decodes every line of an export.
func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func addTo(t *testing.T, m map[string]string, key string, v any) {
	t.Helper()
	sum, err := events.AddDecimals(m[key], fmt.Sprint(v))
	if m[key] == "" {
		sum, err = events.AddDecimals(fmt.Sprint(v))
	}
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	m[key] = sum
}

// TestSimulatorBillMoneyReadings: under every reading the same bills exist with the same money
// (Truth and BillTotals do not change); only where the money is changes: the bills' Revenue
// items, their own Amount, or order items with their BillId in the OrderItem export. The other
// entity types are served unchanged.
func TestSimulatorBillMoneyReadings(t *testing.T) {
	base := mews.NewSimulator(sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow)})
	want, wantBills := base.Truth(), base.BillTotals()
	if len(wantBills) != 60 || len(want.IDs) != 60 || len(want.Totals) != 3 {
		t.Fatalf("default simulator: %d bill totals, truth %+v", len(wantBills), want)
	}
	baseItems := jsonLines(t, exported(t, base, mews.EntityOrderItem))
	for _, money := range []string{"revenue", "amount", "order-items"} {
		t.Run(money, func(t *testing.T) {
			s := mews.NewSimulator(sim.Options{Seed: 9, Records: 60, Now: providertest.Fixed(testNow), Readings: sim.Readings{BillMoney: money}})
			got := s.Truth()
			if got.Records != want.Records || !reflect.DeepEqual(got.Totals, want.Totals) || !slices.Equal(got.IDs, want.IDs) || !reflect.DeepEqual(s.BillTotals(), wantBills) {
				t.Fatalf("truth %+v, want %+v (the same bills and money in every reading)", got, want)
			}
			for _, et := range mews.EntityTypes() {
				if et != mews.EntityBill && et != mews.EntityOrderItem && !bytes.Equal(exported(t, s, et), exported(t, base, et)) {
					t.Errorf("%s differs from the default reading", et)
				}
			}
			gross, net := map[string]string{}, map[string]string{} // by bill id, as the export carries it
			currency := map[string]string{}
			bills := jsonLines(t, exported(t, s, mews.EntityBill))
			for _, b := range bills {
				id := b["Id"].(string)
				revenue, _ := b["Revenue"].([]any)
				amount, hasAmount := b["Amount"].(map[string]any)
				switch money {
				case "revenue":
					if len(revenue) == 0 || hasAmount {
						t.Fatalf("bill %s: Revenue %v, Amount %v; want Revenue only", id, b["Revenue"], b["Amount"])
					}
					for _, r := range revenue {
						a := r.(map[string]any)["Amount"].(map[string]any)
						addTo(t, gross, id, a["GrossValue"])
						addTo(t, net, id, a["NetValue"])
						currency[id] = a["Currency"].(string)
					}
				case "amount":
					if b["Revenue"] != nil || !hasAmount {
						t.Fatalf("bill %s: Revenue %v, Amount %v; want an Amount and Revenue null", id, b["Revenue"], b["Amount"])
					}
					addTo(t, gross, id, amount["GrossValue"])
					addTo(t, net, id, amount["NetValue"])
					currency[id] = amount["Currency"].(string)
				case "order-items":
					if b["Revenue"] != nil || hasAmount {
						t.Fatalf("bill %s: Revenue %v, Amount %v; want no money on the bill", id, b["Revenue"], b["Amount"])
					}
				}
			}
			items := jsonLines(t, exported(t, s, mews.EntityOrderItem))
			if money != "order-items" {
				if !reflect.DeepEqual(items, baseItems) {
					t.Error("the order items differ from the default reading")
				}
			} else {
				byID := map[string]bool{}
				for _, b := range bills {
					byID[b["Id"].(string)] = true
				}
				billed := 0
				for _, it := range items {
					bill, _ := it["BillId"].(string)
					if !byID[bill] {
						continue
					}
					billed++
					a := it["Amount"].(map[string]any)
					addTo(t, gross, bill, a["GrossValue"])
					addTo(t, net, bill, a["NetValue"])
					currency[bill] = a["Currency"].(string)
					if it["UpdatedUtc"] == nil || it["AccountingState"] == nil || it["UnitCount"] == nil {
						t.Errorf("order item %v lacks UpdatedUtc, AccountingState or UnitCount", it)
					}
				}
				if len(items) != len(baseItems)+billed || billed < len(bills) {
					t.Errorf("%d order items, %d of them on a bill; want the %d of the default reading plus one or more per bill", len(items), billed, len(baseItems))
				}
			}
			for id, w := range wantBills {
				if !sameDecimal(gross[id], w.Gross) || !sameDecimal(net[id], w.Net) || currency[id] != w.Currency {
					t.Errorf("bill %s: served %s gross %s net %s, BillTotals %+v", id, currency[id], gross[id], net[id], w)
				}
			}
		})
	}
}

func sameDecimal(a, b string) bool {
	d, err := events.AddDecimals(a, "-"+b)
	return err == nil && strings.Trim(d, "0.-") == ""
}

// TestMapOrderItemReadingEndToEnd: under "order-items" the mapping and the totals rule
// (a bill's own totals, else the sum of its lines) give every bill the simulator's totals
// exactly — the arithmetic ClickHouse's invoice_totals view does, done here in Go.
func TestMapOrderItemReadingEndToEnd(t *testing.T) {
	for _, money := range []string{"revenue", "amount", "order-items"} {
		t.Run(money, func(t *testing.T) {
			s := mews.NewSimulator(sim.Options{Seed: 5, Records: 80, Now: providertest.Fixed(testNow), Readings: sim.Readings{BillMoney: money}})
			got := map[string]mews.SimMoney{}
			lines := map[string][]events.InvoiceLine{}
			for _, et := range []string{mews.EntityBill, mews.EntityOrderItem} {
				for _, line := range bytes.Split(bytes.TrimSpace(exported(t, s, et)), []byte("\n")) {
					evs, err := mews.Provider{}.Map(rawOf(mews.Resource(et), line))
					if err != nil || len(evs) != 1 {
						t.Fatalf("Map(%s): %d events, %v", et, len(evs), err)
					}
					switch et {
					case mews.EntityBill:
						var inv events.Invoice
						_ = json.Unmarshal(evs[0].Data, &inv)
						got[inv.SourceID] = mews.SimMoney{Currency: inv.Currency, Gross: inv.TotalGross, Net: inv.TotalNet}
					default:
						var l events.InvoiceLine
						_ = json.Unmarshal(evs[0].Data, &l)
						lines[l.InvoiceID] = append(lines[l.InvoiceID], l)
					}
				}
			}
			for id, m := range got {
				if m.Gross != "" {
					continue
				}
				var g, n []string
				for _, l := range lines["mews:"+id] {
					g, n, m.Currency = append(g, l.GrossAmount), append(n, l.NetAmount), l.Currency
				}
				m.Gross, _ = events.AddDecimals(g...)
				m.Net, _ = events.AddDecimals(n...)
				got[id] = m
			}
			for id, w := range s.BillTotals() {
				if g := got[id]; g.Currency != w.Currency || !sameDecimal(g.Gross, w.Gross) || !sameDecimal(g.Net, w.Net) {
					t.Errorf("bill %s: mapped %+v, simulator %+v", id, g, w)
				}
			}
		})
	}
}
