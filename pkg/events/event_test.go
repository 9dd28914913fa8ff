package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeRecord(t *testing.T) {
	var v struct{ Amount any }
	if err := DecodeRecord([]byte(` {"Amount": 1.10} `), &v, "a thing", true); err != nil {
		t.Fatal(err)
	}
	if n, ok := v.Amount.(json.Number); !ok || n != "1.10" {
		t.Errorf("Amount = %#v, want json.Number 1.10 (money never becomes a float)", v.Amount)
	}
	for in, want := range map[string]string{
		`{"Amount":`:    "not a thing: unexpected EOF",
		`{} {}`:         "not a thing: data after the JSON object",
		`[1]`:           "not a thing: json: cannot unmarshal array",
		``:              "not a thing: EOF",
		`{"Amount":1}x`: "not a thing: data after the JSON object",
	} {
		err := DecodeRecord([]byte(in), &v, "a thing", false)
		if !errors.Is(err, ErrUnmappable) || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeRecord(%q) = %v, want ErrUnmappable with %q", in, err, want)
		}
	}
}
