package events

import (
	"encoding/json"
	"errors"
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
