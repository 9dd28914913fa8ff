package providertest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
)

// update is the -update flag of every provider test binary (this package is imported only by
// tests). It lives here, once, because a flag defined twice in one binary panics.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current mapping")

// Testdata returns the contents of testdata/name of the package under test, failing t if it
// cannot be read.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden is what a golden file records of an event: the CloudEvents attributes that are part
// of the mapping's output and the body, in this order.
type golden struct {
	ID       string          `json:"ce_id"`
	Type     string          `json:"type"`
	Provider string          `json:"provider"`
	Source   string          `json:"ce_source"`
	Subject  string          `json:"ce_subject"`
	Time     time.Time       `json:"ce_time"`
	Data     json.RawMessage `json:"data"`
}

// Golden compares evs, the events a provider mapped from the seed example testdata/<name>.json,
// with testdata/<name>.golden.json, byte for byte, and reports a difference as an error of t.
// Under -update it first rewrites the golden file from evs (review the diff before committing).
// Every provider's golden files share this one encoding, so they stay comparable.
func Golden(t testing.TB, name string, evs []events.Event) {
	t.Helper()
	var out []golden
	for _, e := range evs {
		out = append(out, golden{e.ID, e.Type, e.Provider, e.Source, e.Subject, e.Time, e.Data})
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test %s -run Golden -update)", err, pkgDir())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Map(%s) differs from %s (review, then -update):\n%s", name, path, got)
	}
}

// pkgDir names the package under test for go test: the test binary runs in its directory.
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return "./pkg/providers/" + filepath.Base(wd)
}

// Deleted, as a value in the fields given to Patch or Apply, removes the field.
var Deleted = &struct{}{}

// Apply sets each of fields in m, removing those whose value is Deleted, and returns m: how a
// mapping test states a variant of a seed record.
func Apply(m, fields map[string]any) map[string]any {
	for k, v := range fields {
		if v == Deleted {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// Patch returns the JSON object doc with fields applied (see Apply). Numbers are kept as
// written (json.Number), so a patched seed differs from the seed only where fields say.
func Patch(t testing.TB, doc []byte, fields map[string]any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Apply(m, fields))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
