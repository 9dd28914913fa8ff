package inpost_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedMPKs are the seed's own MPK examples, named after its sections: Struktura ("Przykład
// zasobu MPK"), Lista miejsc powstania kosztów (the three items of its 200 response),
// Szczegóły (GET /v1/mpks/1), Tworzenie (the 201 of the create example) and Aktualizowanie
// (the 200 of the update example).
var seedMPKs = []string{
	"struktura", "lista_200_items0", "lista_200_items1", "lista_200_items2",
	"szczegoly_200", "tworzenie_201", "aktualizowanie_200",
}

// rawOf wraps MPK JSON as the poller would have published it for organization 1.
func rawOf(data []byte) events.Raw {
	var id struct {
		ID json.Number `json:"id"`
	}
	_ = json.Unmarshal(data, &id)
	return events.Raw{
		ID:        events.RawID(inpost.Name, inpost.Resource, id.ID.String(), data),
		Provider:  inpost.Name,
		Resource:  inpost.Resource,
		Scope:     "1",
		RecordID:  id.ID.String(),
		FetchedAt: time.Date(2018, 5, 17, 9, 0, 0, 0, time.UTC),
		Data:      data,
		Sequence:  42,
	}
}

// validate checks an event body against schemas/events/cost_center.v1.schema.json.
func validate(t testing.TB, data []byte) {
	t.Helper()
	s, err := eventschema.Validator(events.TypeCostCenter)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventschema.Validate(s, data); err != nil {
		t.Fatalf("event does not validate against cost_center.v1: %v\n%s", err, data)
	}
}

func mapOne(t *testing.T, raw events.Raw) (events.Event, events.CostCenter) {
	t.Helper()
	evs, err := inpost.Provider{}.Map(raw)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("Map returned %d events, want 1", len(evs))
	}
	validate(t, evs[0].Data)
	var cc events.CostCenter
	if err := json.Unmarshal(evs[0].Data, &cc); err != nil {
		t.Fatal(err)
	}
	return evs[0], cc
}

func TestMapGolden(t *testing.T) {
	for _, name := range seedMPKs {
		t.Run(name, func(t *testing.T) {
			data := bytes.TrimSpace(providertest.Testdata(t, name+".json"))
			evs, err := inpost.Provider{}.Map(rawOf(data))
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

// patch returns the seed's resource example with fields replaced (or deleted).
func patch(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return providertest.Patch(t, providertest.Testdata(t, "struktura.json"), fields)
}

func TestMap(t *testing.T) {
	long := strings.Repeat("ż", 255)
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		check func(t *testing.T, ev events.Event, cc events.CostCenter)
	}{
		{
			name:  "seed resource maps every field",
			input: func(t *testing.T) []byte { return providertest.Testdata(t, "struktura.json") },
			check: func(t *testing.T, ev events.Event, cc events.CostCenter) {
				eq(t, "id", cc.ID, "inpost:1")
				eq(t, "source_id", cc.SourceID, "1")
				eq(t, "organization_id", cc.OrganizationID, "1")
				eq(t, "name", cc.Name, "Nazwa miejsca powstania kosztów")
				eq(t, "description", cc.Description, "Opis miejsca powstania kosztów")
				eq(t, "created_at", cc.CreatedAt, "2018-05-15T19:58:49.427Z")
				eq(t, "updated_at", cc.UpdatedAt, "2018-05-17T08:35:59.644Z")
				eq(t, "lineage", cc.Lineage.RawStream+" "+cc.Lineage.RawSubject, "RAW raw.inpost.mpks")
				eq(t, "ce-subject", ev.Subject, "inpost:1")
				eq(t, "ce-source", ev.Source, "/providers/inpost/1")
				eq(t, "ce-time", ev.Time.Format(time.RFC3339Nano), "2018-05-17T08:35:59.644Z")
				eq(t, "ce-id", ev.ID, events.EventID("inpost", events.TypeCostCenter, "1", rawOf(providertest.Testdata(t, "struktura.json")).ID))
			},
		},
		{
			name: "offsets across the DST change become the same UTC clock",
			input: func(t *testing.T) []byte {
				return patch(t, map[string]any{"created_at": "2026-10-25T02:30:00.000+02:00", "updated_at": "2026-10-25T02:30:00.000+01:00"})
			},
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) {
				eq(t, "created_at", cc.CreatedAt, "2026-10-25T00:30:00Z")
				eq(t, "updated_at", cc.UpdatedAt, "2026-10-25T01:30:00Z")
			},
		},
		{
			name:  "no created_at: left out",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"created_at": providertest.Deleted}) },
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) { eq(t, "created_at", cc.CreatedAt, "") },
		},
		{
			name:  "no description: empty",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"description": nil}) },
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) { eq(t, "description", cc.Description, "") },
		},
		{
			name:  "a name of 255 Polish letters is kept",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"name": long}) },
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) { eq(t, "name", cc.Name, long) },
		},
		{
			name:  "an id sent as a string is the same id",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"id": "1"}) },
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) { eq(t, "id", cc.ID, "inpost:1") },
		},
		{
			name:  "unknown fields are ignored",
			input: func(t *testing.T) []byte { return patch(t, map[string]any{"budget": map[string]any{"limit": 7.1}}) },
			check: func(t *testing.T, _ events.Event, cc events.CostCenter) {
				eq(t, "name", cc.Name, "Nazwa miejsca powstania kosztów")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, cc := mapOne(t, rawOf(tc.input(t)))
			tc.check(t, ev, cc)
		})
	}
}

// TestMapUpdateIsANewEvent: the seed's list item 1 and its update example are two versions of
// MPK 1: same canonical id, different raw and event ids, so the update reaches ClickHouse as a
// new row that ReplacingMergeTree keeps over the old one.
func TestMapUpdateIsANewEvent(t *testing.T) {
	before, ccBefore := mapOne(t, rawOf(bytes.TrimSpace(providertest.Testdata(t, "lista_200_items2.json"))))
	after, ccAfter := mapOne(t, rawOf(bytes.TrimSpace(providertest.Testdata(t, "aktualizowanie_200.json"))))
	if ccBefore.ID != ccAfter.ID || before.Subject != after.Subject {
		t.Fatalf("two versions of MPK 1 have canonical ids %q and %q", ccBefore.ID, ccAfter.ID)
	}
	if before.ID == after.ID {
		t.Fatal("an updated MPK kept its ce-id: the update would be dropped as a duplicate")
	}
	if !after.Time.After(before.Time) {
		t.Errorf("the update's ce-time %s is not after %s", after.Time, before.Time)
	}
}

func TestMapUnmappable(t *testing.T) {
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		scope string
	}{
		{"broken JSON", func(*testing.T) []byte { return []byte(`{"id":`) }, "1"},
		{"a JSON array", func(*testing.T) []byte { return []byte(`[]`) }, "1"},
		{"JSON null", func(*testing.T) []byte { return []byte(`null`) }, "1"},
		{"data after the object", func(t *testing.T) []byte { return append(patch(t, nil), `{}`...) }, "1"},
		{"missing id", func(t *testing.T) []byte { return patch(t, map[string]any{"id": providertest.Deleted}) }, "1"},
		{"fractional id", func(t *testing.T) []byte { return patch(t, map[string]any{"id": json.Number("1.5")}) }, "1"},
		{"negative id", func(t *testing.T) []byte { return patch(t, map[string]any{"id": json.Number("-3")}) }, "1"},
		{"id out of range", func(t *testing.T) []byte { return patch(t, map[string]any{"id": json.Number("99999999999999999999")}) }, "1"},
		{"id that is text", func(t *testing.T) []byte { return patch(t, map[string]any{"id": "mpk-1"}) }, "1"},
		{"missing name", func(t *testing.T) []byte { return patch(t, map[string]any{"name": providertest.Deleted}) }, "1"},
		{"name over 255 characters", func(t *testing.T) []byte { return patch(t, map[string]any{"name": strings.Repeat("ą", 256)}) }, "1"},
		{"missing updated_at", func(t *testing.T) []byte { return patch(t, map[string]any{"updated_at": providertest.Deleted}) }, "1"},
		{"updated_at without offset", func(t *testing.T) []byte { return patch(t, map[string]any{"updated_at": "2018-05-17T10:35:59.644"}) }, "1"},
		{"malformed created_at", func(t *testing.T) []byte { return patch(t, map[string]any{"created_at": "15.05.2018 21:58"}) }, "1"},
		{"created after updated", func(t *testing.T) []byte { return patch(t, map[string]any{"created_at": "2019-01-01T00:00:00+01:00"}) }, "1"},
		{"updated_at beyond 2105", func(t *testing.T) []byte { return patch(t, map[string]any{"updated_at": "2200-01-01T00:00:00+01:00"}) }, "1"},
		{"no organization", func(t *testing.T) []byte { return patch(t, nil) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawOf(tc.input(t))
			raw.Scope = tc.scope
			evs, err := inpost.Provider{}.Map(raw)
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

func FuzzMap(f *testing.F) {
	for _, name := range seedMPKs {
		f.Add(providertest.Testdata(f, name+".json"))
	}
	f.Add(providertest.Testdata(f, "lista_200.json"))
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"id":1,"name":"a","updated_at":"2018-05-17T10:35:59.644+02:00"}`,
		`{"id":"007","name":"a","updated_at":"2018-05-17T10:35:59+02:00"}`,
		`{"id":9223372036854775807,"name":"\u0000","description":null,"created_at":"1970-01-01T00:00:00Z","updated_at":"2105-12-31T23:59:59.999999999Z"}`,
		`{"id":1e2,"name":"x","updated_at":"2018-05-17T10:35:59.644+14:00"}`,
		`{"id":1,"name":"x","updated_at":"0000-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	schema, err := eventschema.Validator(events.TypeCostCenter)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, ok := providertest.CheckMap(t, inpost.Provider{}, rawOf(data))
		if !ok {
			return
		}
		if len(evs) != 1 {
			t.Fatalf("Map returned %d events, want 1", len(evs))
		}
		for _, ev := range evs {
			if err := eventschema.Validate(schema, ev.Data); err != nil {
				t.Fatalf("event does not validate against cost_center.v1: %v\n%s", err, ev.Data)
			}
		}
	})
}

func BenchmarkMap(b *testing.B) {
	raw := rawOf(bytes.TrimSpace(providertest.Testdata(b, "struktura.json")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (inpost.Provider{}).Map(raw); err != nil {
			b.Fatal(err)
		}
	}
}
