package sink

import "time"

// Batcher collects the items of one table until a limit is reached: MaxRows items, MaxBytes
// bytes, or MaxAge since the first item was added. It holds no clock and starts no goroutine:
// callers pass the time, so the consumer loop decides when to look. Not safe for concurrent
// use; each consumer loop owns its batchers.
type Batcher[T any] struct {
	MaxRows  int
	MaxBytes int
	MaxAge   time.Duration

	items []T
	bytes int
	first time.Time
}

// Add appends v, which weighs size bytes, and reports whether the batch is now full by rows
// or bytes.
func (b *Batcher[T]) Add(v T, size int, now time.Time) (full bool) {
	if len(b.items) == 0 {
		b.first = now
	}
	b.items = append(b.items, v)
	b.bytes += size
	return b.Full()
}

// Full reports whether the batch reached MaxRows or MaxBytes.
func (b *Batcher[T]) Full() bool {
	return len(b.items) > 0 && (len(b.items) >= b.MaxRows || b.bytes >= b.MaxBytes)
}

// Due reports whether the batch is full or its oldest item is at least MaxAge old.
func (b *Batcher[T]) Due(now time.Time) bool {
	return b.Full() || (len(b.items) > 0 && !now.Before(b.first.Add(b.MaxAge)))
}

// Deadline returns when the batch becomes due by age; ok is false when it is empty.
func (b *Batcher[T]) Deadline() (t time.Time, ok bool) {
	if len(b.items) == 0 {
		return time.Time{}, false
	}
	return b.first.Add(b.MaxAge), true
}

// Len returns the number of items held.
func (b *Batcher[T]) Len() int { return len(b.items) }

// Bytes returns the size of the items held.
func (b *Batcher[T]) Bytes() int { return b.bytes }

// Items returns the items held, oldest first, without removing them.
func (b *Batcher[T]) Items() []T { return b.items }

// Take removes and returns every item held, oldest first.
func (b *Batcher[T]) Take() []T {
	items := b.items
	b.items, b.bytes, b.first = nil, 0, time.Time{}
	return items
}
