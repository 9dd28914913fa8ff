package events

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"
)

func TestDecimal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"20.0", "20.0"}, {"1.21", "1.21"}, {"-3", "-3"}, {"0", "0"},
		{"1.5e2", "150"}, {"1.25E-2", "0.0125"}, {"12e0", "12"},
		// A float would print 0.30000000000000004; the text is kept exactly.
		{"0.3", "0.3"},
	}
	for _, tt := range tests {
		got, err := Decimal(json.Number(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("Decimal(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "abc", "0x10", "1_000", "NaN", "Inf", "1e-400", "1e999999999"} {
		if _, err := Decimal(json.Number(bad)); !errors.Is(err, ErrUnmappable) {
			t.Errorf("Decimal(%q): got %v, want ErrUnmappable", bad, err)
		}
	}
}

func TestAddDecimalsIsExact(t *testing.T) {
	got, err := AddDecimals("0.1", "0.2", "19.99", "-0.29")
	if err != nil || got != "20.00" {
		t.Fatalf("AddDecimals = %q, %v; want 20.00", got, err)
	}
	if _, err := AddDecimals("1", "x"); !errors.Is(err, ErrUnmappable) {
		t.Fatalf("AddDecimals with garbage: %v", err)
	}
}

func TestAddDecimalsKeepsTheLargestScale(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, "0"},
		{[]string{"0.10", "2"}, "2.10"},
		{[]string{"-0.29"}, "-0.29"},
		{[]string{"1.5", "-1.50"}, "0.00"},
		{[]string{"-0.001", "0"}, "-0.001"},
		{[]string{"999999999999999999", "1"}, "1000000000000000000"},     // overflows the int64 path
		{[]string{"0.000000000000000001", "1"}, "1.000000000000000001"},  // 19 digits
		{[]string{"1e2", "0.5"}, "100.5"},                                // big.Rat's forms still add
		{[]string{"-9223372036854775808", "-1"}, "-9223372036854775809"}, // beyond int64
		{[]string{"000012.50", "0.5"}, "13.00"},
	}
	for _, tt := range tests {
		got, err := AddDecimals(tt.in...)
		if err != nil || got != tt.want {
			t.Errorf("AddDecimals(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestScaleDecimal(t *testing.T) {
	tests := []struct {
		in   string
		exp  int
		want string
	}{
		{"16530", -3, "16.53"}, {"1.500", -3, "0.0015"}, {"2", 3, "2000"}, {"1.25", 1, "12.5"},
		{"1.25", 2, "125"}, {"-7", -1, "-0.7"}, {"0", -3, "0"}, {"1.50", 0, "1.50"},
		{"1e3", -3, "1"}, // big.Rat's path
	}
	for _, tt := range tests {
		got, ok := ScaleDecimal(tt.in, tt.exp)
		if !ok || got != tt.want {
			t.Errorf("ScaleDecimal(%q, %d) = %q, %v; want %q", tt.in, tt.exp, got, ok, tt.want)
		}
	}
	if _, ok := ScaleDecimal("x", -3); ok {
		t.Error(`ScaleDecimal("x", -3) is ok`)
	}
}

var plainDecimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// FuzzAddDecimalsAgreesWithBigRat holds the int64 paths of AddDecimals, ScaleDecimal and
// Decimal's plain check to big.Rat's and to the regular expression they replaced.
func FuzzAddDecimalsAgreesWithBigRat(f *testing.F) {
	for _, seed := range [][3]string{
		{"0.1", "0.2", "19.99"}, {"-0.29", "1", "0"}, {"999999999999999999", "1", "-1"},
		{"9223372036854775807", "0", "1"}, {"1.", ".5", "-"}, {"1e2", "01", "-0.000"},
		{"123456789.123456789", "-0.000000001", "5"},
	} {
		f.Add(seed[0], seed[1], seed[2], int8(-3))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, exp int8) {
		in := []string{a, b, c}
		got, err := AddDecimals(in...)
		want, wantErr := addRat(in)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("AddDecimals(%q) = %q, %v; big.Rat: %q, %v", in, got, err, want, wantErr)
		}
		e := int(exp) % 12
		if e != 0 {
			got, ok := ScaleDecimal(a, e)
			want, wantOK := scaleRat(a, e)
			if got != want || ok != wantOK {
				t.Fatalf("ScaleDecimal(%q, %d) = %q, %v; big.Rat: %q, %v", a, e, got, ok, want, wantOK)
			}
		}
		if got, want := isPlainDecimal(a), plainDecimalRE.MatchString(a); got != want {
			t.Fatalf("isPlainDecimal(%q) = %v, the expression says %v", a, got, want)
		}
	})
}

func BenchmarkAddDecimals(b *testing.B) {
	for range b.N {
		if _, err := AddDecimals("4.50", "1.00", "0.25"); err != nil {
			b.Fatal(err)
		}
	}
}
