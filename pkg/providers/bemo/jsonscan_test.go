package bemo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// referenceSessionID is what recordID read before the scanner: encoding/json's answer.
func referenceSessionID(item []byte) string {
	var v struct {
		SessionID string `json:"sessionId"`
	}
	if json.Unmarshal(item, &v) != nil {
		return ""
	}
	return v.SessionID
}

func TestScanSessionID(t *testing.T) {
	tests := []struct {
		name    string
		item    string
		want    string
		decided bool
	}{
		{"first", `{"sessionId":"s-1","address":"x"}`, "s-1", true},
		{"last", `{"address":"x","transactions":[],"sessionId":"s-1"}`, "s-1", true},
		{"whitespace", " \n{ \"address\" : \"x\" ,\r\n\t\"sessionId\"\t:\n\"s-1\" } \n", "s-1", true},
		{"nested before", `{"place":{"sessionId":"inner"},"sessionId":"outer"}`, "outer", true},
		{"nested after", `{"sessionId":"outer","transactions":[{"sessionId":"inner"}]}`, "outer", true},
		{"only nested", `{"place":{"sessionId":"inner"},"list":[{"sessionId":"x"}]}`, "", true},
		{"in a string value", `{"note":"\"sessionId\":\"fake\"","sessionId":"real"}`, "real", true},
		{"escaped quote and backslash before", `{"a":"x\\","b":"\"}","sessionId":"s-1"}`, "s-1", true},
		{"escaped value", `{"sessionId":"s\u002d1"}`, "s-1", false},
		{"escaped key", `{"session\u0049d":"s-1"}`, "s-1", false},
		{"case folded key", `{"SESSIONID":"s-1"}`, "s-1", true},
		{"non-ASCII key", `{"ſessionId":"s-1"}`, "s-1", false},
		{"non-ASCII value", `{"sessionId":"é-1"}`, "é-1", false},
		{"duplicate: last wins", `{"sessionId":"a","sessionId":"b"}`, "b", true},
		{"null after a value", `{"sessionId":"a","sessionId":null}`, "a", true},
		{"missing", `{"address":"x","zipCode":"1"}`, "", true},
		{"empty object", `{}`, "", true},
		{"number", `{"sessionId":42}`, "", true},
		{"number, then a string", `{"sessionId":42,"sessionid":"s-1"}`, "", true},
		{"object", `{"sessionId":{"id":"s-1"}}`, "", true},
		{"array", `{"sessionId":["s-1"]}`, "", true},
		{"bool", `{"sessionId":true}`, "", true},
		{"null", `{"sessionId":null}`, "", true},
		{"not an object", `"s-1"`, "", true},
		{"null item", `null`, "", true},
		{"array item", `[{"sessionId":"s-1"}]`, "", true},
		{"invalid", `{"sessionId":"s-1",}`, "", false},
		{"truncated", `{"sessionId":"s-1"`, "", false},
		{"trailing bytes", `{"sessionId":"s-1"} x`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, decided := scanSessionID([]byte(tc.item))
			if decided != tc.decided || (decided && got != tc.want) {
				t.Errorf("scanSessionID(%s) = %q, %v; want %q, %v", tc.item, got, decided, tc.want, tc.decided)
			}
			if ref := referenceSessionID([]byte(tc.item)); ref != tc.want {
				t.Fatalf("test case disagrees with encoding/json: it reads %q", ref)
			}
		})
	}
}

func TestRecordID(t *testing.T) {
	if got := recordID([]byte(`{"place":{"sessionId":"inner"},"sessionId":"outer"}`)); got != "outer" {
		t.Errorf("recordID = %q, want the top-level sessionId", got)
	}
	if got := recordID([]byte(`{"sessionId":"s\u002d1"}`)); got != "s-1" {
		t.Errorf("recordID of an escaped id = %q, want it unescaped", got)
	}
	for _, item := range []string{`{"transactions":[{"sessionId":"inner"}]}`, `{"sessionId":7}`, `{"sessionId":"  "}`, `{"sessionId":"a\u0007b"}`} {
		got := recordID([]byte(item))
		if !strings.HasPrefix(got, "no-session-id-") || got != recordID([]byte(item)) {
			t.Errorf("recordID(%s) = %q, want a stable stand-in", item, got)
		}
	}
}

func TestScanEnvelopeMatchesEncodingJSON(t *testing.T) {
	for _, body := range envelopeSeeds(t) {
		checkEnvelope(t, body)
	}
	// What the fast path must take, else it buys nothing.
	for _, body := range []string{
		`{"status":"Success","errors":null,"data":[{"sessionId":"a"}, {"sessionId":"b"}],"trace":null,"version":"1.0"}`,
		` {"status":"Success","data":[],"meta":{"next":1}} `,
		`{"status":"Error","errors":[{"code":"X","message":"m"}],"data":null}`,
	} {
		if _, _, ok := scanEnvelope([]byte(body)); !ok {
			t.Errorf("scanEnvelope declines %s", body)
		}
	}
	// What it must leave to encoding/json.
	for _, body := range []string{
		`{"Status":"Success","data":[]}`, `{"st\u0061tus":"Success"}`, `{"status":"Success","status":"Error"}`,
		`{"status":"Success","data":[1],"data":[2]}`, `{"status":7}`, `{"status":"Success","data":{}}`,
		`{"status":"Success","data":[1,]}`, `{"status":"Success"} trailing`, `[]`,
	} {
		if _, _, ok := scanEnvelope([]byte(body)); ok {
			t.Errorf("scanEnvelope accepts %s", body)
		}
	}
}

func TestScanEnvelopeItemsDoNotOverlap(t *testing.T) {
	body := []byte(`{"status":"Success","data":[{"a":1},{"b":2}]}`)
	env, _, ok := scanEnvelope(body)
	if !ok || len(env.Data) != 2 {
		t.Fatalf("scanEnvelope = %q, %v", env.Data, ok)
	}
	_ = append(env.Data[0], 'x')
	if string(env.Data[1]) != `{"b":2}` || !bytes.Equal(body, []byte(`{"status":"Success","data":[{"a":1},{"b":2}]}`)) {
		t.Fatalf("appending to an item overwrote the body: %s", body)
	}
}

// checkEnvelope holds scanEnvelope to encoding/json: when it accepts a body, encoding/json
// decodes the same envelope.
func checkEnvelope(t *testing.T, body []byte) {
	t.Helper()
	got, ids, ok := scanEnvelope(body)
	if !ok {
		return
	}
	var want Envelope
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("scanEnvelope accepts what encoding/json refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanEnvelope(%q)\n = %#v\nencoding/json: %#v", body, got, want)
	}
	if len(ids) != len(got.Data) {
		t.Fatalf("scanEnvelope(%q): %d ids for %d items", body, len(ids), len(got.Data))
	}
	for i, item := range got.Data {
		if id, decided := scanSessionID(item); ids[i] != (itemID{id, decided}) {
			t.Fatalf("item %d %s: id %+v while the item alone reads %q, %v", i, item, ids[i], id, decided)
		}
	}
}

func envelopeSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "getsessionsbyaccount_*.json"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no seed examples: %v", err)
	}
	var out [][]byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"status":"Success","data":null}`, `{"status":"Success","data":[1,"x",null]}`,
		`{"status":"Success","data":{}}`, `{"status":"Error","errors":[{"code":7}]}`, ` {"status":"Success"} trailing`,
		`{"status":"Success","errors":null,"data":[{"sessionId":"a","x":[1e5,-0.5,true,false,null,"\u00e9\n"]}],"trace":{"id":"t"},"version":"1.0"}`} {
		out = append(out, []byte(s))
	}
	return out
}

func FuzzScanEnvelope(f *testing.F) {
	for _, b := range envelopeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkEnvelope(t, body)
	})
}

func FuzzScanValue(f *testing.F) {
	for _, b := range envelopeSeeds(f) {
		f.Add(b)
	}
	for _, s := range []string{`0`, `-0`, `01`, `1.`, `1.5e+3`, `1E-2`, `-`, `"\u12"`, `"\x"`, "\"a\tb\"", `[[[]]]`, `{"a":}`, `tru`, `nulls`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := skipSpace(b, 0)
		end := scanValue(b, i, 0)
		valid := end >= 0 && skipSpace(b, end) == len(b)
		// Nesting deeper than maxScanDepth takes more bytes than that; the scanner declines it.
		if valid != json.Valid(b) && (valid || len(b) <= maxScanDepth) {
			t.Fatalf("scanner says valid=%v, encoding/json %v: %q", valid, !valid, b)
		}
		if id, decided := scanSessionID(b); decided {
			if !json.Valid(b) {
				t.Fatalf("scanSessionID decided on invalid JSON %q", b)
			}
			if ref := referenceSessionID(b); id != ref {
				t.Fatalf("scanSessionID(%q) = %q, encoding/json reads %q", b, id, ref)
			}
		}
	})
}

// benchPage is a page of 100 sessions like the seed's, without its indentation (as the
// simulator serves them).
func benchPage(b *testing.B) []byte {
	b.Helper()
	seed, err := os.ReadFile(filepath.Join("testdata", "getsessionsbyaccount_200.json"))
	if err != nil {
		b.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(seed, &env); err != nil {
		b.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Data[0]); err != nil {
		b.Fatal(err)
	}
	page := []byte(`{"status":"Success","errors":null,"data":[`)
	for i := range 100 {
		if i > 0 {
			page = append(page, ',')
		}
		page = append(page, compact.Bytes()...)
	}
	return append(page, `],"trace":null,"version":"1.0"}`...)
}

func BenchmarkDecodePage(b *testing.B) {
	page := benchPage(b)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		env, ids, err := decodePage(page)
		if err != nil || len(ids) != len(env.Data) {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePageEncodingJSON is what a page cost before the scanner.
func BenchmarkDecodePageEncodingJSON(b *testing.B) {
	page := benchPage(b)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		var env Envelope
		if err := json.Unmarshal(page, &env); err != nil {
			b.Fatal(err)
		}
		for _, item := range env.Data {
			if referenceSessionID(item) == "" {
				b.Fatal("no sessionId")
			}
		}
	}
}
