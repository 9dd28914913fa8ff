package bus

import (
	"testing"
	"time"
)

func TestBackoffWaitTime(t *testing.T) {
	tests := []struct {
		name    string
		b       Backoff
		attempt uint64
		want    time.Duration
	}{
		{"defaults, first delivery", Backoff{}, 1, time.Second},
		{"defaults, attempt 0 is treated as the first", Backoff{}, 0, time.Second},
		{"doubles per attempt", Backoff{Initial: 100 * time.Millisecond, Max: time.Hour}, 4, 800 * time.Millisecond},
		{"capped at Max", Backoff{Initial: time.Second, Max: 5 * time.Second}, 10, 5 * time.Second},
		{"huge attempt does not overflow", Backoff{Initial: time.Second, Max: time.Minute}, 1 << 62, time.Minute},
		{"Max below Initial wins", Backoff{Initial: time.Minute, Max: time.Second}, 1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.WaitTime(tt.attempt); got != tt.want {
				t.Errorf("WaitTime(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}
