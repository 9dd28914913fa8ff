// Package eventschema holds the JSON Schemas (draft 2020-12) of chargeline's canonical events,
// the contract subscribers rely on, and compiles validators for them with format assertions on.
package eventschema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// BaseURL is where the schemas are published; a schema's $id is BaseURL + its file name, the
// ce-dataschema of every event of its type (events.Event.DataSchema).
const BaseURL = "https://chargeline.io/schemas/events/"

// FS returns the schema files, named <type>.v1.schema.json.
func FS() fs.FS { return files }

// Types returns the event types that have a schema ("charging_session", "cost_center", …).
func Types() []string {
	names, _ := fs.Glob(files, "*.v1.schema.json")
	types := make([]string, 0, len(names))
	for _, n := range names {
		types = append(types, strings.TrimSuffix(n, ".v1.schema.json"))
	}
	return types
}

// Validator compiles the v1 schema of the event type typ (events.TypeChargingSession, …) with
// format assertions on, so "date-time" is checked. Compile once and reuse: a Schema is safe for
// concurrent use.
func Validator(typ string) (*jsonschema.Schema, error) {
	name := typ + ".v1.schema.json"
	if _, err := fs.Stat(files, name); err != nil {
		return nil, fmt.Errorf("eventschema: no schema for event type %q", typ)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("eventschema: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".schema.json") {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("eventschema: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("eventschema: parse %s: %w", e.Name(), err)
		}
		if err := c.AddResource(BaseURL+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("eventschema: add %s: %w", e.Name(), err)
		}
	}
	s, err := c.Compile(BaseURL + name)
	if err != nil {
		return nil, fmt.Errorf("eventschema: compile %s: %w", name, err)
	}
	return s, nil
}

// Validate checks the JSON document data against s. Numbers are kept exact (json.Number), so a
// float where a decimal string belongs is reported, not rounded.
func Validate(s *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("eventschema: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("eventschema: %w", err)
	}
	return nil
}
