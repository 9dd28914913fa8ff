package plugsurfing_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedBills are the seed's own example bills (its response's user.bills[0] and [1]).
var seedBills = []string{"usergetbills_response_bills0", "usergetbills_response_bills1"}

var fetchedAt = time.Date(2015, 3, 6, 1, 0, 0, 0, time.UTC)

// rawOf wraps bill JSON as the poller would have published it for the seed's user.
func rawOf(data []byte) events.Raw {
	return rawFor("username:some_user", data)
}

func rawFor(scope string, data []byte) events.Raw {
	var b struct {
		Bill string `json:"bill"`
	}
	_ = json.Unmarshal(data, &b)
	id := plugsurfing.BillID(b.Bill)
	return events.Raw{
		ID:        events.RawID(plugsurfing.Name, plugsurfing.Resource, id, data),
		Provider:  plugsurfing.Name,
		Resource:  plugsurfing.Resource,
		Scope:     scope,
		RecordID:  id,
		FetchedAt: fetchedAt,
		Data:      data,
		Sequence:  42,
	}
}

func invoiceSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	s, err := eventschema.Validator(events.TypeInvoice)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mapOne(t *testing.T, raw events.Raw) (events.Event, events.Invoice) {
	t.Helper()
	evs, err := plugsurfing.Provider{}.Map(raw)
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
	return evs[0], inv
}

func TestMapGolden(t *testing.T) {
	for _, name := range seedBills {
		t.Run(name, func(t *testing.T) {
			data := bytes.TrimSpace(providertest.Testdata(t, name+".json"))
			evs, err := plugsurfing.Provider{}.Map(rawOf(data))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			providertest.Golden(t, name, evs)
		})
	}
}

func TestMap(t *testing.T) {
	const seedURL = "https://api.plugsurfing.com/uploads/bills/Invoice-201503052-10000.pdf"
	tests := []struct {
		name  string
		raw   func(t *testing.T) events.Raw
		check func(t *testing.T, ev events.Event, inv events.Invoice)
	}{
		{
			name: "seed bill maps every field",
			raw:  func(t *testing.T) events.Raw { return rawOf(providertest.Testdata(t, seedBills[1]+".json")) },
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				id := plugsurfing.BillID(seedURL)
				eq(t, "id", inv.ID, "plugsurfing:"+id)
				eq(t, "source_id", inv.SourceID, id)
				eq(t, "account", inv.Account, "username:some_user")
				eq(t, "document_url", inv.DocumentURL, seedURL)
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "),
					"plugsurfing:6a2f25f6-a82c-1234-9090-0e3da7abcde1 plugsurfing:6a2f25f6-927f-6578-1432-8394caabcde2")
				eq(t, "no money", inv.TotalAmount+inv.Currency+inv.IssuedAt+inv.PeriodStart+inv.Status, "")
				if inv.LineItems == nil || len(inv.LineItems) != 0 {
					t.Errorf("line_items = %v, want []", inv.LineItems)
				}
				eq(t, "lineage", inv.Lineage.RawStream+" "+inv.Lineage.RawSubject, "RAW raw.plugsurfing.bills")
				eq(t, "ce-subject", ev.Subject, inv.ID)
				eq(t, "ce-source", ev.Source, "/providers/plugsurfing/username:some_user")
				eq(t, "type", ev.Type, events.TypeInvoice)
				eq(t, "ce-time", ev.Time.Format(time.RFC3339), "2015-03-06T01:00:00Z")
			},
		},
		{
			name: "the same bill for another user keeps its id",
			raw: func(t *testing.T) events.Raw {
				return rawFor("rfid:04AB12CD34EF56", providertest.Testdata(t, seedBills[1]+".json"))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				_, other := mapOne(t, rawOf(providertest.Testdata(t, seedBills[1]+".json")))
				eq(t, "id", inv.ID, other.ID)
				eq(t, "account", inv.Account, "rfid:04AB12CD34EF56")
			},
		},
		{
			name: "session ids trimmed, duplicates dropped, order kept",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"external-session-ids":[" b ","a","b"],"bill":" ` + seedURL + `\n"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "), "plugsurfing:b plugsurfing:a")
				eq(t, "document_url", inv.DocumentURL, seedURL)
				eq(t, "source_id", inv.SourceID, plugsurfing.BillID(seedURL))
			},
		},
		{
			name: "no external-session-ids: an empty list",
			raw:  func(t *testing.T) events.Raw { return rawOf([]byte(`{"bill":"` + seedURL + `"}`)) },
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				if inv.SessionIDs == nil || len(inv.SessionIDs) != 0 {
					t.Errorf("session_ids = %v, want []", inv.SessionIDs)
				}
				if !bytes.Contains(ev.Data, []byte(`"session_ids":[]`)) {
					t.Errorf("session_ids is not [] in %s", ev.Data)
				}
			},
		},
		{
			name: "integer session ids keep their digits",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"external-session-ids":[9007199254740993,"b",0],"bill":"` + seedURL + `"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "), "plugsurfing:9007199254740993 plugsurfing:b plugsurfing:0")
			},
		},
		{
			name: "another spelling of external-session-ids",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"externalSessionIds":["a","b"],"bill":"` + seedURL + `"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "), "plugsurfing:a plugsurfing:b")
			},
		},
		{
			name: "two spellings holding one list",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"external-session-ids":["a"],"external_session_ids":["a"],"bill":"` + seedURL + `"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "), "plugsurfing:a")
			},
		},
		{
			name: "null external-session-ids: an empty list",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"external-session-ids":null,"bill":"` + seedURL + `"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				if inv.SessionIDs == nil || len(inv.SessionIDs) != 0 {
					t.Errorf("session_ids = %v, want []", inv.SessionIDs)
				}
			},
		},
		{
			name: "unknown fields are ignored",
			raw: func(t *testing.T) events.Raw {
				return rawOf([]byte(`{"external-session-ids":["x"],"bill":"` + seedURL + `","amount":{"value":7.1},"date":"2015-03-05"}`))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "session_ids", strings.Join(inv.SessionIDs, " "), "plugsurfing:x")
			},
		},
		{
			name: "a token-type user's hashed scope is the account",
			raw: func(t *testing.T) events.Raw {
				return rawFor(plugsurfing.SimUsers()[3].Scope(), providertest.Testdata(t, seedBills[0]+".json"))
			},
			check: func(t *testing.T, ev events.Event, inv events.Invoice) {
				eq(t, "account", inv.Account, plugsurfing.SimUsers()[3].Scope())
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, inv := mapOne(t, tc.raw(t))
			tc.check(t, ev, inv)
		})
	}
}

func TestMapUnmappable(t *testing.T) {
	const url = "https://api.plugsurfing.com/uploads/bills/Invoice-1.pdf"
	tests := []struct {
		name string
		data string
		raw  func(events.Raw) events.Raw
	}{
		{"broken JSON", `{"bill":`, nil},
		{"a JSON array", `[]`, nil},
		{"JSON null", `null`, nil},
		{"data after the object", `{"bill":"` + url + `"}{}`, nil},
		{"missing bill", `{"external-session-ids":["a"]}`, nil},
		{"blank bill", `{"bill":"  "}`, nil},
		{"bill not a string", `{"bill":7}`, nil},
		{"relative bill URL", `{"bill":"/uploads/bills/Invoice-1.pdf"}`, nil},
		{"ftp bill URL", `{"bill":"ftp://api.plugsurfing.com/Invoice-1.pdf"}`, nil},
		{"unbracketed IPv6 host", `{"bill":"http://::1/x.pdf"}`, nil},
		{"blank session id", `{"external-session-ids":["a"," "],"bill":"` + url + `"}`, nil},
		{"session id with a line break", `{"external-session-ids":["a\nb"],"bill":"` + url + `"}`, nil},
		{"session id a fraction", `{"external-session-ids":[1.5],"bill":"` + url + `"}`, nil},
		{"session id negative", `{"external-session-ids":[-3],"bill":"` + url + `"}`, nil},
		{"session id with an exponent", `{"external-session-ids":[1e3],"bill":"` + url + `"}`, nil},
		{"session id null", `{"external-session-ids":["a",null],"bill":"` + url + `"}`, nil},
		{"session id an object", `{"external-session-ids":[{"id":"a"}],"bill":"` + url + `"}`, nil},
		{"two spellings, two lists", `{"external-session-ids":["a"],"external_session_ids":["b"],"bill":"` + url + `"}`, nil},
		{"sessions under another key", `{"session-ids":["a"],"bill":"` + url + `"}`, nil},
		{"sessions under another key, empty", `{"sessions":[],"bill":"` + url + `"}`, nil},
		{"session ids not a list", `{"external-session-ids":"a","bill":"` + url + `"}`, nil},
		{"no fetched-at time", `{"bill":"` + url + `"}`, func(r events.Raw) events.Raw { r.FetchedAt = time.Time{}; return r }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawOf([]byte(tc.data))
			if tc.raw != nil {
				raw = tc.raw(raw)
			}
			evs, err := plugsurfing.Provider{}.Map(raw)
			providertest.CheckUnmappable(t, evs, err)
		})
	}
}

// TestMapSimulatorBillsValidate maps everything the simulator serves and validates each event
// against schemas/events/invoice.v1.schema.json.
func TestMapSimulatorBillsValidate(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 8, Records: 80, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	schema := invoiceSchema(t)
	n := 0
	for _, u := range plugsurfing.SimUsers() {
		for _, r := range providertest.FetchAll(t, src, u.Scope(), "") {
			if r.Data == nil {
				continue
			}
			evs, err := plugsurfing.Provider{}.Map(rawFor(u.Scope(), r.Data))
			if err != nil {
				t.Fatalf("Map(%s): %v", r.ID, err)
			}
			for _, ev := range evs {
				if err := eventschema.Validate(schema, ev.Data); err != nil {
					t.Fatalf("Map(%s): %v\n%s", r.ID, err, ev.Data)
				}
				if ev.Subject != "plugsurfing:"+r.ID {
					t.Errorf("subject %s, want plugsurfing:%s (the record id)", ev.Subject, r.ID)
				}
				n++
			}
		}
	}
	if n != s.Truth().Records {
		t.Errorf("%d events, the simulator holds %d bills", n, s.Truth().Records)
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func FuzzMap(f *testing.F) {
	for _, name := range seedBills {
		f.Add(providertest.Testdata(f, name+".json"))
	}
	f.Add(providertest.Testdata(f, "usergetbills_response.json"))
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"bill":"https://a"}`, `{"bill":"https://[::1]:8/x","external-session-ids":[]}`,
		`{"bill":"http://x/\u0000","external-session-ids":["\u00e9","\ufffd"]}`, `{"BILL":"https://a/b","External-Session-Ids":["1"]}`,
		`{"bill":"https://a/b","external-session-ids":["a","a","` + strings.Repeat("x", 300) + `"]}`,
		`{"bill":"https://user:pass@host/x?y#z","external-session-ids":null}`,
	} {
		f.Add([]byte(s))
	}
	schema := invoiceSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := rawOf(data)
		evs, ok := providertest.CheckMap(t, plugsurfing.Provider{}, raw)
		if !ok {
			return
		}
		for _, ev := range evs {
			if ev.Subject != "plugsurfing:"+raw.RecordID || ev.Time.Location() != time.UTC {
				t.Fatalf("bad envelope: subject %q (record %q) time %v", ev.Subject, raw.RecordID, ev.Time)
			}
			if err := eventschema.Validate(schema, ev.Data); err != nil {
				t.Fatalf("event does not validate: %v\n%s", err, ev.Data)
			}
			var inv events.Invoice
			if err := json.Unmarshal(ev.Data, &inv); err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(inv.SessionIDs, func(s string) bool { return !strings.HasPrefix(s, "plugsurfing:") || len(s) == len("plugsurfing:") }) {
				t.Fatalf("session ids %q", inv.SessionIDs)
			}
		}
	})
}

func BenchmarkMap(b *testing.B) {
	raw := rawOf(bytes.TrimSpace(providertest.Testdata(b, seedBills[1]+".json")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (plugsurfing.Provider{}).Map(raw); err != nil {
			b.Fatal(err)
		}
	}
}
