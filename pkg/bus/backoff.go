package bus

import (
	"time"

	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
)

// Backoff is the redelivery delay of a Nacked message by delivery attempt: Initial after the
// first delivery, doubling with every further one, never more than Max. It implements
// watermill-nats' Delay, the NakDelay of a SubscriberConfig, so a failing message comes back
// later instead of in a hot loop; MaxDeliver on the consumer bounds how often.
type Backoff struct {
	Initial time.Duration // default 1s
	Max     time.Duration // default 1m
}

var _ wmjetstream.Delay = Backoff{}

// WaitTime returns the delay before the redelivery that follows delivery attempt (1-based).
func (b Backoff) WaitTime(attempt uint64) time.Duration {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = time.Minute
	}
	d := b.Initial
	for i := uint64(1); i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}
