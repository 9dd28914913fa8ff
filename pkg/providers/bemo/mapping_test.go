package bemo_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
)

// seedSessions are the seed's own example records (its 200 OK representation, data[0] and data[1]).
var seedSessions = []string{"getsessionsbyaccount_200_data0", "getsessionsbyaccount_200_data1"}

// rawOf wraps session JSON as the poller would have published it.
func rawOf(data []byte) events.Raw {
	var id struct {
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(data, &id)
	return events.Raw{
		ID:        events.RawID(bemo.Name, bemo.Resource, id.SessionID, data),
		Provider:  bemo.Name,
		Resource:  bemo.Resource,
		Scope:     "acc-seed",
		RecordID:  id.SessionID,
		FetchedAt: time.Date(2021, 2, 11, 5, 0, 0, 0, time.UTC),
		Data:      data,
		Sequence:  42,
	}
}

func mapOne(t *testing.T, data []byte) events.ChargingSession {
	t.Helper()
	evs, err := bemo.Provider{}.Map(rawOf(data))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("Map returned %d events, want 1", len(evs))
	}
	var cs events.ChargingSession
	if err := json.Unmarshal(evs[0].Data, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestMapGolden(t *testing.T) {
	for _, name := range seedSessions {
		t.Run(name, func(t *testing.T) {
			data := bytes.TrimSpace(providertest.Testdata(t, name+".json"))
			evs, err := bemo.Provider{}.Map(rawOf(data))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			providertest.Golden(t, name, evs)
		})
	}
}

// patch returns the seed's data[0] with fields replaced (or deleted).
func patch(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return providertest.Patch(t, providertest.Testdata(t, seedSessions[0]+".json"), fields)
}

// tx is the seed's transaction with fields replaced (or deleted).
func tx(fields map[string]any) map[string]any {
	m := map[string]any{
		"currencyKey": "EUR", "productCategory": "Fueling", "productFamily": "Diesel", "productCode": "B7",
		"quantity": json.Number("16.53"), "quantityUnit": "L", "tariffCode": nil,
		"totalAmount": json.Number("20.0"), "transactionDate": "2021-02-11T03:38:10Z", "unitPrice": json.Number("1.21"),
	}
	return providertest.Apply(m, fields)
}

func txs(list ...map[string]any) []any {
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
		check func(t *testing.T, cs events.ChargingSession)
	}{
		{
			name:  "seed record maps every field",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedSessions[0]+".json") },
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "id", cs.ID, "bemo:3fc8e82f-ec81-4ba3-a021-00d9db4c86db")
				eq(t, "account", cs.Account, "acc-seed")
				eq(t, "status", cs.Status, "completed")
				eq(t, "started_at", cs.StartedAt, "2021-02-11T03:37:49Z")
				eq(t, "ended_at", cs.EndedAt, "2021-02-11T03:38:10Z")
				if cs.DurationSeconds == nil || *cs.DurationSeconds != 21 {
					t.Errorf("duration_seconds = %v, want 21", cs.DurationSeconds)
				}
				eq(t, "address", cs.Location.Address, "HOLZMARKTSTR. 36-42 HOLZMARKTSTR. 36-42")
				eq(t, "time_zone", cs.Location.TimeZone, "+01:00")
				eq(t, "operator", cs.Location.Operator, "Total")
				eq(t, "token", cs.Token.Type+" "+cs.Token.Value, "vehicle ba7a3db7-a7de-42d9-8d16-f4bc7bc687a1")
				eq(t, "quantity", cs.Quantity+" "+cs.Unit, "16.53 L")
				eq(t, "energy_kwh", cs.EnergyKWh, "")
				eq(t, "total", cs.TotalAmount+" "+cs.Currency, "20.0 EUR")
				eq(t, "product", cs.Product.Category+"/"+cs.Product.Family+"/"+cs.Product.Code, "Fueling/Diesel/B7")
				eq(t, "line unit price", cs.LineItems[0].UnitPrice, "1.21")
				eq(t, "lineage", cs.Lineage.RawStream+" "+cs.Lineage.RawSubject, "RAW raw.bemo.sessions")
			},
		},
		{
			name: "timestamp without offset takes the site's timeZone",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"sessionStartDate": "2021-02-11T04:37:49", "sessionEndDate": "2021-02-11T04:38:10",
					"transactions": txs(tx(map[string]any{"transactionDate": "2021-02-11T04:38:10"}))})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "started_at", cs.StartedAt, "2021-02-11T03:37:49Z")
				eq(t, "ended_at", cs.EndedAt, "2021-02-11T03:38:10Z")
				eq(t, "line time", cs.LineItems[0].Time, "2021-02-11T03:38:10Z")
			},
		},
		{
			name: "timestamp with an offset ignores timeZone",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"sessionStartDate": "2021-02-11T04:37:49+01:00", "timeZone": "-05:00"})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "started_at", cs.StartedAt, "2021-02-11T03:37:49Z")
				eq(t, "time_zone", cs.Location.TimeZone, "-05:00")
			},
		},
		{
			name:  "isRfid true gives the card as token",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"isRfid": true}) },
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "token", cs.Token.Type+" "+cs.Token.Value, "rfid 123456789")
				eq(t, "vehicle_id", cs.VehicleID, "ba7a3db7-a7de-42d9-8d16-f4bc7bc687a1")
			},
		},
		{
			name:  "no end date: no duration, event time is the start",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"sessionEndDate": providertest.Deleted}) },
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "ended_at", cs.EndedAt, "")
				if cs.DurationSeconds != nil {
					t.Errorf("duration_seconds = %d, want none", *cs.DurationSeconds)
				}
			},
		},
		{
			name: "mixed currencies keep the lines but no total",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"transactions": txs(tx(nil), tx(map[string]any{"currencyKey": "PLN", "totalAmount": num("40.5")}))})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "total", cs.TotalAmount+cs.Currency, "")
				eq(t, "line 2", cs.LineItems[1].Amount+" "+cs.LineItems[1].Currency, "40.5 PLN")
				eq(t, "quantity", cs.Quantity, "33.06")
			},
		},
		{
			name: "amounts add exactly, no float rounding",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"transactions": txs(
					tx(map[string]any{"totalAmount": num("0.1")}), tx(map[string]any{"totalAmount": num("0.2")}), tx(map[string]any{"totalAmount": num("0.3")}))})
			},
			check: func(t *testing.T, cs events.ChargingSession) { eq(t, "total", cs.TotalAmount, "0.6") },
		},
		{
			name: "energy in Wh and kWh becomes energy_kwh; units differ so no session quantity",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"transactions": txs(
					tx(map[string]any{"productCategory": "Charging", "productFamily": "AC", "productCode": "AC22", "quantity": num("16530"), "quantityUnit": "Wh"}),
					tx(map[string]any{"productCategory": "Charging", "productFamily": "DC", "productCode": "DC150", "quantity": num("1.5"), "quantityUnit": "kWh"}))})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "energy_kwh", cs.EnergyKWh, "18.03")
				eq(t, "quantity", cs.Quantity+cs.Unit, "")
				eq(t, "product", cs.Product.Category+"/"+cs.Product.Family, "Charging/")
			},
		},
		{
			name: "exponent and quoted numbers stay exact decimals",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"totalAmount": num("1.5e1"), "unitPrice": "1.210"}))})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "amount", cs.LineItems[0].Amount, "15")
				eq(t, "unit price", cs.LineItems[0].UnitPrice, "1.210")
			},
		},
		{
			name:  "no transactions: empty line items, no total",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"transactions": nil}) },
			check: func(t *testing.T, cs events.ChargingSession) {
				if cs.LineItems == nil || len(cs.LineItems) != 0 || cs.TotalAmount != "" {
					t.Errorf("line_items %v total %q, want [] and none", cs.LineItems, cs.TotalAmount)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mapOne(t, tc.input(t))) })
	}
}

func TestMapUnmappable(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
	}{
		{"broken JSON", func(*testing.T) []byte { return []byte(`{"sessionId":`) }},
		{"a JSON array", func(*testing.T) []byte { return []byte(`[]`) }},
		{"JSON null", func(*testing.T) []byte { return []byte(`null`) }},
		{"data after the object", func(t *testing.T) []byte { return append(patch(t, nil), `{}`...) }},
		{"missing sessionId", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": providertest.Deleted}) }},
		{"sessionId with a line break", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": "a\nb"}) }},
		{"missing sessionStartDate", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionStartDate": providertest.Deleted}) }},
		{"malformed start date", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionStartDate": "11/02/2021 03:37"}) }},
		{"local time without timeZone", func(t *testing.T) []byte {
			return patch(t, map[string]any{"sessionStartDate": "2021-02-11T03:37:49", "timeZone": ""})
		}},
		{"end before start", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionEndDate": "2021-02-11T03:00:00Z"}) }},
		{"non-decimal totalAmount", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"totalAmount": "twenty"}))})
		}},
		{"boolean quantity", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"quantity": true}))})
		}},
		{"missing totalAmount", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"totalAmount": providertest.Deleted}))})
		}},
		{"missing currencyKey", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"currencyKey": providertest.Deleted}))})
		}},
		{"huge exponent amount", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"totalAmount": num("1e400000")}))})
		}},
		{"latitude out of range", func(t *testing.T) []byte { return patch(t, map[string]any{"latitude": num("91.5")}) }},
		{"bad transaction date", func(t *testing.T) []byte {
			return patch(t, map[string]any{"transactions": txs(tx(map[string]any{"transactionDate": "yesterday"}))})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := bemo.Provider{}.Map(rawOf(tc.input(t)))
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
	for _, name := range seedSessions {
		f.Add(providertest.Testdata(f, name+".json"))
	}
	f.Add(providertest.Testdata(f, "getsessionsbyaccount_200.json"))
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"sessionId":"a","sessionStartDate":"2021-02-11T03:37:49"}`,
		`{"sessionId":"a","sessionStartDate":"2021-02-11T03:37:49","timeZone":"+14:00","transactions":[{"totalAmount":1e30,"currencyKey":"eur","quantity":-0.0,"quantityUnit":"MWh"}]}`,
		`{"sessionId":"a","sessionStartDate":"2021-02-11T03:37:49Z","latitude":1e999,"transactions":[{"totalAmount":"1E-31","currencyKey":"EUR"}]}`,
		`{"sessionId":" ","sessionStartDate":"0000-01-01T00:00:00Z","sessionEndDate":"9999-12-31T23:59:59.999999999Z"}`,
		`{"sessionId":"x","sessionStartDate":"2021-02-11T03:37:49.5+01:00","sessionEndDate":"2106-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, ok := providertest.CheckMap(t, bemo.Provider{}, rawOf(data))
		if !ok {
			return
		}
		for _, ev := range evs {
			var cs events.ChargingSession
			if err := json.Unmarshal(ev.Data, &cs); err != nil {
				t.Fatalf("event data: %v", err)
			}
			money := []string{cs.TotalAmount, cs.Quantity, cs.EnergyKWh}
			times := []string{cs.StartedAt, cs.EndedAt}
			for _, l := range cs.LineItems {
				if l.Amount == "" || l.Currency == "" {
					t.Fatalf("line item without amount or currency: %+v", l)
				}
				money = append(money, l.Amount, l.Quantity, l.UnitPrice)
				times = append(times, l.Time)
			}
			for _, m := range money {
				if m != "" && !decimalRE.MatchString(m) {
					t.Fatalf("%q is not a decimal string", m)
				}
			}
			if cs.StartedAt == "" {
				t.Fatal("started_at is empty")
			}
			for _, ts := range times {
				if ts == "" {
					continue
				}
				if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
					t.Fatalf("%q is not an RFC 3339 UTC time", ts)
				}
			}
		}
	})
}

func BenchmarkMap(b *testing.B) {
	raw := rawOf(bytes.TrimSpace(providertest.Testdata(b, seedSessions[0]+".json")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (bemo.Provider{}).Map(raw); err != nil {
			b.Fatal(err)
		}
	}
}
