package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/pip"
)

// recordTypes are the types the mappings decode records into, with their useNumber.
var recordTypes = []struct {
	new       func() any
	useNumber bool
}{
	{func() any { return new(bemo.Session) }, true},
	{func() any { return new(pip.Session) }, false},
	{func() any { return new(inpost.MPK) }, true},
	{func() any { return new(mews.Bill) }, true},
	{func() any { return new(mews.OrderItem) }, true},
	{func() any { return new(map[string]json.RawMessage) }, false}, // Plugsurfing's bill
}

// FuzzDecodeRecordAgreesWithEncodingJSON holds DecodeRecord (a fast codec first, encoding/json
// when it refuses) to encoding/json alone, on every provider's record type: the same outcome,
// and the same value when both accept. Seeded with the providers' documented records.
func FuzzDecodeRecordAgreesWithEncodingJSON(f *testing.F) {
	for _, glob := range []string{"../providers/*/testdata/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		`{"id":"1","amount":"12.50"}`, `{"Id":1,"ID":2}`, `{"sessionId":"x"} x`, `{"a":"\xff\ud800"}`,
		`{"TotalAmount":{"GrossValue":"0.2","NetValue":0.2}}`, `{"id":1e400}`, `[1]`, `null`, ` {} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, rt := range recordTypes {
			want, got := rt.new(), rt.new()
			wantErr := referee(data, want, rt.useNumber)
			gotErr := events.DecodeRecord(append([]byte(nil), data...), got, "a record", rt.useNumber)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("%T from %q: encoding/json error %v, DecodeRecord error %v", want, data, wantErr, gotErr)
			}
			if wantErr == nil && !reflect.DeepEqual(want, got) {
				t.Fatalf("%T from %q:\nencoding/json %#v\nDecodeRecord  %#v", want, data, want, got)
			}
		}
	})
}

// referee is what DecodeRecord did with encoding/json alone.
func referee(data []byte, v any, useNumber bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}
