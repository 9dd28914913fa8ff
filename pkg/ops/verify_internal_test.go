package ops

import (
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// Two versions of a record fetched within the same second (fetched_at is whole seconds): the
// later one is the one with the higher stream sequence, and verify must compare with it, not
// with whichever argMax met first.
func TestCompareRawBreaksAFetchedAtTieByStreamSequence(t *testing.T) {
	ch := clickhousetest.Start(t)
	conn := ch.Conn(t)
	if _, err := sink.Migrate(t.Context(), conn, nil); err != nil {
		t.Fatal(err)
	}
	// Newest first and oldest second, each insert its own part, in both orders: argMax over
	// equal keys keeps the first it meets, so one of the two orders fails without the tie-break.
	for _, order := range [][2]string{{"v2", "v1"}, {"v1", "v2"}} {
		ch.Exec(t, "TRUNCATE TABLE chargeline.raw_records")
		seq := map[string]uint64{"v1": 1, "v2": 2}
		fetched := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		for _, ce := range order {
			b, err := conn.PrepareBatch(t.Context(), "INSERT INTO chargeline.raw_records (provider, resource, scope, record_id, ce_id, fetched_at, stream_seq, payload)")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Append("bemo", "sessions", "a", "s-1", ce, fetched, seq[ce], "{}"); err != nil {
				t.Fatal(err)
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
		}
		var rep VerifyReport
		recs := []*verifyRecord{{scope: "a", resource: "sessions", id: "s-1", rawID: "v2"}}
		if err := compareRaw(t.Context(), conn, "bemo", recs, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Different) != 0 || len(rep.Missing) != 0 {
			t.Errorf("inserted %v: different %+v, missing %+v; want v2 (stream_seq 2) taken as the archived version", order, rep.Different, rep.Missing)
		}
	}
}
