package sink

import (
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
)

// A consumer loop's rows of one table share one column list; a row whose columns differ gets its
// own, and the values always line up with the columns.
func TestDecodeWithSharesColumnLists(t *testing.T) {
	known := map[string][]string{}
	var rows []row
	for i, e := range []events.Event{session("bemo", "s1", 1, nil), session("bemo", "s2", 2, nil)} {
		m := events.EventMsg(e)
		r, err := decodeWith(source{subject: m.Subject, header: m.Header, data: m.Data, seq: uint64(i + 1), stored: time.Now()}, known)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	a, b := rows[0], rows[1]
	if len(a.cols) != len(a.vals) || len(b.cols) != len(b.vals) || len(a.cols) != len(b.cols) {
		t.Fatalf("columns and values do not line up: %d/%d and %d/%d", len(a.cols), len(a.vals), len(b.cols), len(b.vals))
	}
	if &a.cols[0] != &b.cols[0] {
		t.Error("the second row of a table does not share the first row's column list")
	}
	if got := known[TableChargingSessions]; &got[0] != &a.cols[0] {
		t.Error("decodeWith did not record the table's column list")
	}

	// A list that disagrees (a stale or foreign one) is not taken: the row gets its own.
	known[TableChargingSessions] = []string{"id", "something_else"}
	m := events.EventMsg(session("bemo", "s3", 3, nil))
	r, err := decodeWith(source{subject: m.Subject, header: m.Header, data: m.Data, seq: 3, stored: time.Now()}, known)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.cols) != len(a.cols) || r.cols[1] != "provider" || len(r.cols) != len(r.vals) {
		t.Fatalf("row decoded against a wrong known list has columns %v", r.cols)
	}
	for i := range r.cols {
		if r.cols[i] != a.cols[i] {
			t.Fatalf("column %d = %q, want %q", i, r.cols[i], a.cols[i])
		}
	}
}

// A pull waits at most BatchAge, so a row never waits much longer than BatchAge for an empty
// batch's fetch to return.
func TestFetchWaitIsBoundedByBatchAge(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		age  time.Duration
		want time.Duration
	}{
		{age: 250 * time.Millisecond, want: 250 * time.Millisecond},
		{age: time.Second, want: maxFetchWait},
		{age: time.Minute, want: maxFetchWait},
	} {
		s := &Sink{cfg: Config{BatchAge: tt.age}}
		l := &loop{s: s, tables: []string{TableRawRecords}, batches: map[string]*Batcher[*item]{
			TableRawRecords: {MaxRows: 10, MaxBytes: 1 << 20, MaxAge: tt.age},
		}}
		if got := l.fetchWait(now); got != tt.want {
			t.Errorf("BatchAge %s, empty batch: fetchWait = %s, want %s", tt.age, got, tt.want)
		}
		l.batches[TableRawRecords].Add(&item{}, 1, now.Add(-tt.age/2))
		if got, want := l.fetchWait(now), min(tt.age-tt.age/2, maxFetchWait); got != want {
			t.Errorf("BatchAge %s, batch half due: fetchWait = %s, want %s", tt.age, got, want)
		}
	}
}
