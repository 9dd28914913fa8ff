package providertest

import (
	"context"
	"errors"
	"testing"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Fetch runs one Fetch of src, collecting every record (markers included).
func Fetch(ctx context.Context, src poll.Source, scope string, from poll.Checkpoint) ([]poll.Record, error) {
	var recs []poll.Record
	err := src.Fetch(ctx, scope, from, func(r poll.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// FetchAll is Fetch under t's context, failing t on an error.
func FetchAll(t testing.TB, src poll.Source, scope string, from poll.Checkpoint) []poll.Record {
	t.Helper()
	recs, err := Fetch(t.Context(), src, scope, from)
	if err != nil {
		t.Fatalf("Fetch(%q, %q): %v", scope, from, err)
	}
	return recs
}

// FetchFailure is one way a source's Fetch must fail.
type FetchFailure struct {
	Name  string
	Scope string
	From  poll.Checkpoint
	Emit  func(poll.Record) error // nil accepts every record
	Is    error                   // the error Fetch returns must wrap it
}

// CheckFetchFailures runs each case as a subtest of t: Fetch(Scope, From) with Emit must
// return an error wrapping Is. A case whose Is is stop (the error its Emit returns) must also
// see Emit called exactly once: a source stops at the first refused record.
func CheckFetchFailures(t *testing.T, src poll.Source, stop error, cases []FetchFailure) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			emit := tc.Emit
			if emit == nil {
				emit = func(poll.Record) error { return nil }
			}
			calls := 0
			err := src.Fetch(t.Context(), tc.Scope, tc.From, func(r poll.Record) error { calls++; return emit(r) })
			if !errors.Is(err, tc.Is) {
				t.Fatalf("Fetch = %v, want an error wrapping %v", err, tc.Is)
			}
			if tc.Is == stop && calls != 1 {
				t.Errorf("emit called %d times after it failed once", calls)
			}
		})
	}
}

// Split returns the checkpoints of the marker records (those without Data) and the ids of
// the data records after the last marker: what a source has closed, and what it left open.
func Split(recs []poll.Record) (marks []poll.Checkpoint, open []string) {
	for _, r := range recs {
		if r.Data == nil {
			marks = append(marks, r.Next)
			open = nil
			continue
		}
		open = append(open, r.ID)
	}
	return marks, open
}
