package pip_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedSessions are the example records of the export's 200 response (testdata/
// getposteninvoicingdata_200.json): the seed shows no body, so they are built from its field
// list ("session ID, PIP ID, store number, and completion timestamp") and its two example
// date-times.
var seedSessions = []string{"getposteninvoicingdata_200_data0", "getposteninvoicingdata_200_data1"}

// rawOf wraps session JSON as the poller would have published it.
func rawOf(data []byte) events.Raw {
	var v struct {
		SessionID json.RawMessage `json:"sessionId"`
	}
	_ = json.Unmarshal(data, &v)
	id := strings.Trim(string(v.SessionID), `"`)
	return events.Raw{
		ID:        events.RawID(pip.Name, pip.Resource, id, data),
		Provider:  pip.Name,
		Resource:  pip.Resource,
		Scope:     pip.DefaultExport,
		RecordID:  id,
		FetchedAt: time.Date(2023, 1, 1, 12, 5, 0, 0, time.UTC),
		Data:      data,
		Sequence:  42,
	}
}

// compiledSchema compiles the charging_session.v1 schema once for all tests.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return eventschema.Validator(events.TypeChargingSession)
})

// validate fails t unless data is a valid charging_session.v1 event.
func validate(t testing.TB, data []byte) {
	t.Helper()
	s, err := compiledSchema()
	if err != nil {
		t.Fatal(err)
	}
	if err := eventschema.Validate(s, data); err != nil {
		t.Fatalf("event does not validate: %v\n%s", err, data)
	}
}

func mapOne(t *testing.T, data []byte) events.ChargingSession {
	t.Helper()
	evs, err := pip.Provider{}.Map(rawOf(data))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("Map returned %d events, want 1", len(evs))
	}
	validate(t, evs[0].Data)
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
			evs, err := pip.Provider{}.Map(rawOf(data))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			for _, e := range evs {
				validate(t, e.Data)
			}
			providertest.Golden(t, name, evs)
		})
	}
}

// patch returns the seed example data0 with fields replaced (or deleted).
func patch(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return providertest.Patch(t, providertest.Testdata(t, seedSessions[0]+".json"), fields)
}

func TestMap(t *testing.T) {
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		check func(t *testing.T, cs events.ChargingSession)
	}{
		{
			name:  "seed example maps every field",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, seedSessions[0]+".json") },
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "id", cs.ID, "pip:0b6f3c1e-8d2a-4e57-9a0c-5f1d2e3b4a69")
				eq(t, "source_id", cs.SourceID, "0b6f3c1e-8d2a-4e57-9a0c-5f1d2e3b4a69")
				eq(t, "account", cs.Account, "posten")
				eq(t, "status", cs.Status, "completed")
				eq(t, "ended_at", cs.EndedAt, "2013-10-20T18:20:30Z") // +01:00 in the seed
				eq(t, "started_at", cs.StartedAt, "")
				eq(t, "location", cs.Location.ID+" / "+cs.Location.StoreNumber, "PIP-10231 / 2130")
				eq(t, "product", cs.Product.Category, "pip")
				eq(t, "money", cs.TotalAmount+cs.Currency+cs.Quantity, "")
				eq(t, "lineage", cs.Lineage.RawStream+" "+cs.Lineage.RawSubject, "RAW raw.pip.invoicing")
				if cs.LineItems == nil || len(cs.LineItems) != 0 {
					t.Errorf("line_items = %v, want []", cs.LineItems)
				}
			},
		},
		{
			name: "numeric ids become their digits",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"sessionId": json.Number("9007199254740993"), "pipId": json.Number("17"), "storeNumber": json.Number("415")})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "id", cs.ID, "pip:9007199254740993")
				eq(t, "location", cs.Location.ID+" / "+cs.Location.StoreNumber, "17 / 415")
			},
		},
		{
			name:  "store number keeps its leading zero, ids are trimmed",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"storeNumber": " 0415 ", "pipId": "PIP-1 "}) },
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "location", cs.Location.ID+" / "+cs.Location.StoreNumber, "PIP-1 / 0415")
			},
		},
		{
			name: "no PIP and no store: no location",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"pipId": providertest.Deleted, "storeNumber": nil})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				if cs.Location != nil {
					t.Errorf("location = %+v, want none", cs.Location)
				}
			},
		},
		{
			name: "fractional seconds and unknown fields",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"completedAt": "2023-01-01T12:00:00.250-05:00", "amount": 12.5})
			},
			check: func(t *testing.T, cs events.ChargingSession) {
				eq(t, "ended_at", cs.EndedAt, "2023-01-01T17:00:00.25Z")
				eq(t, "money", cs.TotalAmount, "")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mapOne(t, tc.input(t))) })
	}
}

func TestMapUnmappable(t *testing.T) {
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
	}{
		{"broken JSON", func(*testing.T) []byte { return []byte(`{"sessionId":`) }},
		{"a JSON array", func(*testing.T) []byte { return []byte(`[]`) }},
		{"JSON null", func(*testing.T) []byte { return []byte(`null`) }},
		{"data after the object", func(t *testing.T) []byte { return append(patch(t, nil), `{}`...) }},
		{"missing sessionId", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": providertest.Deleted}) }},
		{"blank sessionId", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": "  "}) }},
		{"sessionId with a line break", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": "a\nb"}) }},
		{"boolean sessionId", func(t *testing.T) []byte { return patch(t, map[string]any{"sessionId": true}) }},
		{"object pipId", func(t *testing.T) []byte { return patch(t, map[string]any{"pipId": map[string]any{"id": 1}}) }},
		{"storeNumber with a control character", func(t *testing.T) []byte { return patch(t, map[string]any{"storeNumber": "04\x0015"}) }},
		{"missing completedAt", func(t *testing.T) []byte { return patch(t, map[string]any{"completedAt": providertest.Deleted}) }},
		{"date-only completedAt", func(t *testing.T) []byte { return patch(t, map[string]any{"completedAt": "2023-01-01"}) }},
		{"completedAt without an offset", func(t *testing.T) []byte { return patch(t, map[string]any{"completedAt": "2023-01-01T12:00:00"}) }},
		{"numeric completedAt", func(t *testing.T) []byte { return patch(t, map[string]any{"completedAt": 1672574400}) }},
		{"completedAt before 1970", func(t *testing.T) []byte { return patch(t, map[string]any{"completedAt": "1969-12-31T23:59:59Z"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := pip.Provider{}.Map(rawOf(tc.input(t)))
			providertest.CheckUnmappable(t, evs, err)
		})
	}
}

func TestMapSimulatorSessionsValidate(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := newSim(sim.Options{Seed: 3, Records: 200, Now: clk.Now})
	clk.Set(testNow.Add(7 * 24 * time.Hour)) // every session has completed
	after, mapped := "", map[string]bool{}
	for {
		resp := call(t, s, "GET", exportURL+"?completedAfter="+after, nil, "")
		page, err := pip.DecodePage(resp.body, "", after)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Sessions {
			mapped[mapOne(t, item).ID] = true
		}
		if page.ExportedThrough == nil || *page.ExportedThrough == after {
			if len(mapped) != 200 {
				t.Fatalf("mapped %d of 200 sessions", len(mapped))
			}
			return
		}
		after = *page.ExportedThrough
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func FuzzMap(f *testing.F) {
	for _, name := range seedSessions {
		f.Add(providertest.Testdata(f, name+".json"))
	}
	f.Add(providertest.Testdata(f, "getposteninvoicingdata_200.json"))
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"sessionId":"a","completedAt":"2023-01-01T12:00:00Z"}`,
		`{"sessionId":1e400,"completedAt":"2023-01-01T12:00:00Z","pipId":-0.0,"storeNumber":"\u2028"}`,
		`{"sessionId":"x","completedAt":"0000-01-01T00:00:00Z"}`, `{"sessionId":"x","completedAt":"2105-12-31T23:59:59.999999999-14:00"}`,
		`{"sessionId":"x","completedAt":"2023-01-01T12:00:00+25:00"}`, `{"sessionId":" a ","completedAt":" 2023-01-01T12:00:00Z "}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, ok := providertest.CheckMap(t, pip.Provider{}, rawOf(data))
		if !ok {
			return
		}
		if len(evs) != 1 {
			t.Fatalf("Map returned %d events, want 1", len(evs))
		}
		validate(t, evs[0].Data)
	})
}

func BenchmarkMap(b *testing.B) {
	raw := rawOf(bytes.TrimSpace(providertest.Testdata(b, seedSessions[0]+".json")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (pip.Provider{}).Map(raw); err != nil {
			b.Fatal(err)
		}
	}
}
