package sink

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// benchEvent is a real Be-Mo session from the seed, as the normalizer publishes it.
func benchEvent(b testing.TB) (events.Raw, source) {
	b.Helper()
	data, err := os.ReadFile("../providers/bemo/testdata/getsessionsbyaccount_200_data0.json")
	if err != nil {
		b.Fatal(err)
	}
	raw := events.Raw{Provider: "bemo", Resource: "sessions", Scope: "acc-1", RecordID: "s-1", FetchedAt: time.Now(),
		Data: bytes.TrimSpace(data), Sequence: 42}
	raw.ID = events.RawID(raw.Provider, raw.Resource, raw.RecordID, raw.Data)
	evs, err := bemo.Provider{}.Map(raw)
	if err != nil || len(evs) != 1 {
		b.Fatalf("map: %v", err)
	}
	m := events.EventMsg(evs[0])
	return raw, source{subject: m.Subject, header: m.Header, data: m.Data, seq: 7, stored: time.Now(), provider: "bemo"}
}

// BenchmarkDecodeChargingSession measures turning one charging_session event into its row, as
// a consumer loop does (sharing the table's column list).
func BenchmarkDecodeChargingSession(b *testing.B) {
	_, src := benchEvent(b)
	known := map[string][]string{}
	b.SetBytes(int64(len(src.data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWith(src, known); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRawRecord measures turning one raw message into its raw_records row.
func BenchmarkDecodeRawRecord(b *testing.B) {
	raw, _ := benchEvent(b)
	m := events.RawMsg(raw)
	src := source{subject: m.Subject, header: m.Header, data: m.Data, seq: 42, stored: time.Now(), provider: "bemo"}
	known := map[string][]string{}
	b.SetBytes(int64(len(src.data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWith(src, known); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchBuild measures a full batch of the default size: decoding every message into
// the table's Batcher and taking the rows for the insert, per row.
func BenchmarkBatchBuild(b *testing.B) {
	_, src := benchEvent(b)
	b.ReportAllocs()
	now := time.Now()
	bt := &Batcher[*item]{MaxRows: DefaultBatchRows, MaxBytes: DefaultBatchBytes, MaxAge: DefaultBatchAge}
	known := map[string][]string{}
	for b.Loop() {
		r, err := decodeWith(src, known)
		if err != nil {
			b.Fatal(err)
		}
		if bt.Add(&item{src: src, row: r, size: len(src.data)}, len(src.data), now) {
			chunk := bt.Take()
			rows := make([]row, len(chunk))
			for i, it := range chunk {
				rows[i] = it.row
			}
		}
	}
}
