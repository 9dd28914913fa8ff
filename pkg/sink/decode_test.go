package sink

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/events"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in, want string // want "" = NULL
		scale    int32
		wantErr  string
	}{
		{in: "", scale: 4},
		{in: "1.5", scale: 4, want: "1.5"},
		{in: "-3", scale: 4, want: "-3"},
		{in: "0.38615", scale: 6, want: "0.38615"},
		{in: "1.2300000", scale: 4, want: "1.23"}, // only zeros beyond the scale
		{in: "1.23456", scale: 4, wantErr: "more than 4 decimals"},
		{in: "99999999999999.9999", scale: 4, want: "99999999999999.9999"},
		{in: "100000000000000", scale: 4, wantErr: "does not fit"},
		{in: "1e3", scale: 4, want: "1000"},
		{in: "12,5", scale: 4, wantErr: "not a decimal"},
		{in: "0x10", scale: 4, wantErr: "not a decimal"},
		{in: "NaN", scale: 4, wantErr: "not a decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := parseDecimal(tt.in, tt.scale)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseDecimal(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (d == nil) != (tt.want == "") || (d != nil && d.String() != tt.want) {
				t.Errorf("parseDecimal(%q) = %v, want %q", tt.in, d, tt.want)
			}
		})
	}
}

func TestDecodeRefusesWhatCannotBecomeARow(t *testing.T) {
	good := events.EventMsg(session("bemo", "s1", 7, nil))
	tests := []struct {
		name    string
		subject string
		header  func(nats.Header)
		data    string
		wantErr string
	}{
		{name: "broken json", data: `{"id":`, wantErr: "charging_session body"},
		{name: "no ce-id", header: func(h nats.Header) { h.Del(events.HeaderID) }, wantErr: "no ce-id"},
		{name: "no id", data: `{"provider":"bemo"}`, wantErr: "no id or provider"},
		{name: "unknown type", subject: "events.tariff.v1.bemo", wantErr: "no table for event type"},
		{name: "type header disagrees", header: func(h nats.Header) { h.Set(events.HeaderType, "io.chargeline.invoice.v1") }, wantErr: "no table for event type"},
		{name: "not json", header: func(h nats.Header) { h[events.HeaderContentType] = []string{"application/xml"} }, wantErr: "content-type"},
		{name: "time not rfc 3339", data: `{"id":"bemo:1","provider":"bemo","started_at":"01/02/2024"}`, wantErr: "started_at"},
		{name: "time before 1970", data: `{"id":"bemo:1","provider":"bemo","ended_at":"1969-12-31T23:59:59Z"}`, wantErr: "DateTime's range"},
		{name: "line without amount", data: `{"id":"bemo:1","provider":"bemo","line_items":[{"currency":"EUR"}]}`, wantErr: "line_items[0].amount: is required"},
		{name: "raw without ce-id", subject: "raw.bemo.sessions", header: func(h nats.Header) { h.Del(events.HeaderID) }, wantErr: "ce-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nats.Header{}
			for k, v := range good.Header {
				h[k] = v
			}
			if tt.header != nil {
				tt.header(h)
			}
			src := source{subject: good.Subject, header: h, data: good.Data, seq: 9}
			if tt.subject != "" {
				src.subject = tt.subject
			}
			if tt.data != "" {
				src.data = []byte(tt.data)
			}
			_, err := decode(src)
			if !errors.Is(err, errUndecodable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decode error = %v, want errUndecodable mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeRowsHaveTheirTablesColumns(t *testing.T) {
	ev := events.EventMsg(session("bemo", "s1", 7, nil))
	r, err := decode(source{subject: ev.Subject, header: ev.Header, data: ev.Data, seq: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.table != TableChargingSessions || len(r.cols) != len(r.vals) {
		t.Errorf("charging session row: table %s, %d columns, %d values", r.table, len(r.cols), len(r.vals))
	}
	inv := &nats.Msg{Subject: "events.invoice.v1.pip", Header: nats.Header{events.HeaderID: {"i1"}},
		Data: []byte(`{"id":"pip:1","provider":"pip","total_net":"10.00","session_ids":["pip:s1"],"line_items":[{"amount":"10.00","currency":"EUR"}],"lineage":{"raw_sequence":4}}`)}
	if r, err := decode(source{subject: inv.Subject, header: inv.Header, data: inv.Data}); err != nil || r.table != TableInvoices {
		t.Errorf("invoice: %v %v", r.table, err)
	}
	cc := &nats.Msg{Subject: "events.cost_center.v1.inpost", Header: nats.Header{events.HeaderID: {"c1"}},
		Data: []byte(`{"id":"inpost:1","provider":"inpost","name":"Fleet","created_at":"2024-01-01T00:00:00Z"}`)}
	if r, err := decode(source{subject: cc.Subject, header: cc.Header, data: cc.Data}); err != nil || r.table != TableCostCenters {
		t.Errorf("cost center: %v %v", r.table, err)
	}
	line := &nats.Msg{Subject: "events.invoice_line.v1.mews", Header: nats.Header{events.HeaderID: {"l1"}},
		Data: []byte(`{"id":"mews:l1","provider":"mews","invoice_id":"mews:b1","product":{},"amount":"10.70","net_amount":"10.00","currency":"EUR","lineage":{"raw_sequence":5}}`)}
	if r, err := decode(source{subject: line.Subject, header: line.Header, data: line.Data}); err != nil || r.table != TableInvoiceLines || len(r.cols) != len(r.vals) {
		t.Errorf("invoice line: %v %v", r.table, err)
	}
	line.Data = []byte(`{"id":"mews:l1","provider":"mews","product":{},"currency":"EUR","lineage":{"raw_sequence":5}}`)
	if _, err := decode(source{subject: line.Subject, header: line.Header, data: line.Data}); !errors.Is(err, errUndecodable) || !strings.Contains(err.Error(), "amount") {
		t.Errorf("invoice line without amount: %v, want errUndecodable naming amount", err)
	}
}

func TestSubjectProvider(t *testing.T) {
	for subject, want := range map[string]string{
		"raw.bemo.sessions":              "bemo",
		"events.charging_session.v1.pip": "pip",
		"events.charging_session.v1":     "unknown",
		"something.else":                 "unknown",
		"events.invoice.v1.mews":         "mews",
	} {
		if got := subjectProvider(subject); got != want {
			t.Errorf("subjectProvider(%q) = %q, want %q", subject, got, want)
		}
	}
}
