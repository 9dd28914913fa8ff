package sink

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/chargeline/chargeline/pkg/events"
)

// FuzzUnmarshalAgreesWithEncodingJSON holds the sink's event codec (segmentio/encoding/json,
// zero-copy strings) to encoding/json, the codec the normalizer writes with and the sink used
// before: for any body, both accept it and decode the same event of every canonical type, or
// both refuse it.
func FuzzUnmarshalAgreesWithEncodingJSON(f *testing.F) {
	_, src := benchEvent(f)
	f.Add(src.data)
	for _, s := range []string{
		`{"id":"a","provider":"p","line_items":[{"amount":"1.5","product":{"code":"X"}}],"lineage":{"raw_sequence":3}}`,
		`{"ID":"case","Provider":"folded","duration_seconds":1e2}`,
		`{"id":"dup","id":"last wins"} `,
		`{"id":"\u00e9\ud800","provider":"\xff"}`,
		`{"id":"a"} {"id":"b"}`,
		`{"id":1}`, `[]`, `null`, `{"lines":[1,2]}`, `{"total_amount":"1.23","issued_at":"2026-01-02T03:04:05Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data, func() any { return new(events.ChargingSession) })
		agree(t, data, func() any { return new(events.Invoice) })
		agree(t, data, func() any { return new(events.InvoiceLine) })
		agree(t, data, func() any { return new(events.CostCenter) })
	})
}

func agree(t *testing.T, data []byte, newV func() any) {
	t.Helper()
	// Copied: the zero-copy decode must not depend on the caller keeping the bytes unchanged
	// beyond the message's life, but it may point into them while they live.
	buf := append([]byte(nil), data...)
	want, got := newV(), newV()
	wantErr := json.Unmarshal(data, want)
	gotErr := unmarshal(buf, got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%T from %q: encoding/json error %v, sink codec error %v", want, data, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%T from %q:\nencoding/json %+v\nsink codec    %+v", want, data, want, got)
	}
}
