package sink

import (
	"testing"
	"time"
)

func TestBatcher(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		sizes    []int
		at       time.Duration // when Due is asked, after t0
		wantFull bool
		wantDue  bool
	}{
		{name: "empty is never due", at: time.Hour},
		{name: "below every limit", sizes: []int{10, 10}, at: 999 * time.Millisecond},
		{name: "rows reached", sizes: []int{1, 1, 1}, wantFull: true, wantDue: true},
		{name: "bytes reached", sizes: []int{60, 40}, wantFull: true, wantDue: true},
		{name: "age reached", sizes: []int{1}, at: time.Second, wantDue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Batcher[int]{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}
			var full bool
			for i, s := range tt.sizes {
				full = b.Add(i, s, t0)
			}
			if full != tt.wantFull || b.Full() != tt.wantFull {
				t.Errorf("full = %v, want %v", full, tt.wantFull)
			}
			if got := b.Due(t0.Add(tt.at)); got != tt.wantDue {
				t.Errorf("Due = %v, want %v", got, tt.wantDue)
			}
			dl, ok := b.Deadline()
			if ok != (len(tt.sizes) > 0) || (ok && !dl.Equal(t0.Add(time.Second))) {
				t.Errorf("Deadline = %v, %v", dl, ok)
			}
			items := b.Take()
			if len(items) != len(tt.sizes) || b.Len() != 0 || b.Bytes() != 0 || b.Due(t0.Add(time.Hour)) {
				t.Errorf("Take returned %d items and left %d (%d bytes)", len(items), b.Len(), b.Bytes())
			}
		})
	}
}

func TestBatcherAgeCountsFromFirstItem(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Batcher[string]{MaxRows: 10, MaxBytes: 1000, MaxAge: time.Second}
	b.Add("a", 1, t0)
	b.Add("b", 1, t0.Add(900*time.Millisecond))
	if !b.Due(t0.Add(time.Second)) {
		t.Error("batch not due one MaxAge after its first item")
	}
}
