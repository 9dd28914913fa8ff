package events

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// canonical is every type encodeData writes, as NewEvent receives them.
var canonical = []func() Data{
	func() Data { return ChargingSession{} },
	func() Data { return Invoice{} },
	func() Data { return CostCenter{} },
	func() Data { return InvoiceLine{} },
}

// filler sets every field of a value from a byte stream: strings short or long, plain or with
// what must be escaped (quotes, control bytes, <>&, U+2028, invalid UTF-8), pointers and slices
// nil, empty or set, floats of every magnitude and the non-finite ones. A field of a kind it
// does not know fails the test, so a field added to a canonical type is covered or noticed.
type filler struct {
	t    testing.TB
	data []byte
	i    int
	full bool // every string non-empty, every pointer and slice set
}

func (f *filler) next() byte {
	if f.i >= len(f.data) {
		return 0
	}
	b := f.data[f.i]
	f.i++
	return b
}

func (f *filler) uint64() uint64 {
	var u uint64
	for range 8 {
		u = u<<8 | uint64(f.next())
	}
	return u
}

var fillStrings = []string{
	"", "1", "bemo:7f3a", "2026-11-20T15:04:05Z", "12.50", "-0.0", "Zürich", "Plzeň – Lochotín", "日本",
	`a"b`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\r", "\x00\x1f\x7f", "\u2028\u2029", "\xff", "a\xc3", "\ufffd", "😀",
}

var fillFloats = []float64{0, 1, -1, 0.5, 59.9139, 10.7522, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789e13, -1e-10,
	math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}

func (f *filler) string() string {
	if f.full {
		return "x"
	}
	b := f.next()
	switch {
	case b < 128:
		return fillStrings[int(b)%len(fillStrings)]
	default: // raw bytes from the stream
		n := int(b - 128)
		end := min(f.i+n, len(f.data))
		s := string(f.data[f.i:end])
		f.i = end
		return s
	}
}

func (f *filler) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(f.string())
	case reflect.Int64:
		v.SetInt(int64(f.uint64()))
	case reflect.Uint64:
		v.SetUint(f.uint64())
	case reflect.Float64:
		if b := f.next(); b < 200 {
			v.SetFloat(fillFloats[int(b)%len(fillFloats)])
		} else {
			v.SetFloat(math.Float64frombits(f.uint64()))
		}
	case reflect.Pointer:
		if f.next()%3 == 0 && !f.full {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem())
	case reflect.Slice:
		n := int(f.next() % 5)
		if f.full {
			n = 2
		}
		switch n {
		case 0:
			v.SetZero()
		default:
			v.Set(reflect.MakeSlice(v.Type(), n-1, n-1))
			for i := range n - 1 {
				f.fill(v.Index(i))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i))
		}
	default:
		f.t.Fatalf("filler: a field of kind %s (%s): teach the filler and encode.go about it", v.Kind(), v.Type())
	}
}

// checkEncode fails t unless encodeData and json.Marshal agree on the value filled from data:
// the same bytes, or both an error.
func checkEncode(t testing.TB, data []byte) {
	for _, mk := range canonical {
		p := reflect.New(reflect.TypeOf(mk()))
		(&filler{t: t, data: data}).fill(p.Elem())
		for _, d := range []Data{p.Elem().Interface().(Data), p.Interface().(Data)} {
			want, wantErr := json.Marshal(d)
			got, gotErr := encodeData(d)
			if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("%T:\njson.Marshal %s (%v)\nencodeData   %s (%v)", d, want, wantErr, got, gotErr)
			}
		}
	}
}

// FuzzEncodeAgreesWithEncodingJSON holds the canonical types' own encoding to json.Marshal's,
// byte for byte, on values with every field set from the fuzzer's bytes.
func FuzzEncodeAgreesWithEncodingJSON(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, 40))
	f.Add(bytes.Repeat([]byte{200, 255, 0x7f, 0xf0, 0, 0, 0, 0, 1}, 60))
	f.Fuzz(func(t *testing.T, data []byte) { checkEncode(t, data) })
}

// TestEncodeAgreesWithEncodingJSON is the fuzz target's property on 5,000 seeded random
// streams, so that `make test` covers every field and edge string without a fuzzing run.
func TestEncodeAgreesWithEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1200)
	for range 5000 {
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		checkEncode(t, data)
	}
}

// TestEncodeEveryFieldSet guards the test itself: with every pointer and slice set, the
// encoding holds every field json.Marshal writes.
func TestEncodeEveryFieldSet(t *testing.T) {
	for _, mk := range canonical {
		p := reflect.New(reflect.TypeOf(mk()))
		(&filler{t: t, data: []byte{1, 2, 3}, full: true}).fill(p.Elem())
		var fields map[string]any
		b, err := encodeData(p.Elem().Interface().(Data))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if n := p.Elem().NumField(); len(fields) != n {
			t.Errorf("%T: %d of its %d fields encoded: %s", mk(), len(fields), n, b)
		}
	}
}

// BenchmarkEncode: a charging session of three line items, as NewEvent encodes it
// (json.Marshal was its reference and its former way).
func BenchmarkEncode(b *testing.B) {
	lat, lon := 59.9139, 10.7522
	cs := ChargingSession{SchemaVersion: "1", ID: "bemo:7f3a9c", Provider: "bemo", SourceID: "7f3a9c", Account: "acme",
		Status: "completed", StartedAt: "2026-11-20T15:04:05Z", EndedAt: "2026-11-20T16:10:00Z",
		Location: &Location{ID: "NO*BMO*E1234", Name: "Oslo Sentrum", City: "Oslo", CountryCode: "NO", Latitude: &lat, Longitude: &lon},
		Token:    &Token{Type: "rfid", Value: "04A2B3C4D5"}, Quantity: "42.318", Unit: "kWh", EnergyKWh: "42.318",
		TotalAmount: "211.59", Currency: "NOK", Lineage: Lineage{RawID: "b3ce44b343b30021404862246147d3ec", RawStream: "RAW", RawSequence: 4242, RawSubject: "raw.bemo.sessions"}}
	for range 3 {
		cs.LineItems = append(cs.LineItems, LineItem{Product: Product{Category: "charging", Code: "energy"}, Quantity: "14.106", Unit: "kWh", UnitPrice: "5.00", Amount: "70.53", Currency: "NOK", Time: "2026-11-20T15:04:05Z"})
	}
	for _, bc := range []struct {
		name string
		enc  func(Data) ([]byte, error)
	}{{"encodeData", encodeData}, {"json.Marshal", func(d Data) ([]byte, error) { return json.Marshal(d) }}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.enc(cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
