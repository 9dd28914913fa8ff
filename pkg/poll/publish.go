package poll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pipeline publishes one scope's records asynchronously with a bounded in-flight window and
// tells which checkpoint is safe: the Next of the latest record whose PubAck, and every PubAck
// before it, has arrived. Acks are settled in emit order, so a later ack never advances the
// checkpoint past an earlier record that is still in flight.
type pipeline struct {
	js      jetstream.JetStream
	window  int
	backoff Backoff
	// queue holds the entries in emit order: queue[head:] are unsettled. Settled entries are
	// zeroed (their messages freed) and the live ones moved back to the start when the array is
	// full, instead of append copying them into ever new arrays.
	queue  []inflight
	head   int
	safe   Checkpoint // highest checkpoint all of whose records are durable
	dirty  bool       // safe changed since the last commit
	acked  int        // records acknowledged so far
	commit func(ctx context.Context, cp Checkpoint) error
	// commitEvery is how many acknowledged records may pass between checkpoint writes.
	commitEvery int
	sinceCommit int
	// tooLarge takes a message the bus refused for its size (a failure of that message alone,
	// which no retry mends) and makes it durable elsewhere; the message then counts as settled.
	tooLarge func(ctx context.Context, msg *nats.Msg, err error) error
}

type inflight struct {
	msg *nats.Msg // nil for a checkpoint marker
	fut jetstream.PubAckFuture
	// ok and fail are fut's channels, asked for once: each call takes the jetstream client's
	// lock, which the goroutine receiving the acks needs too.
	ok   <-chan *jetstream.PubAck
	fail <-chan error
	next Checkpoint
	done bool  // the outcome is known
	err  error // the async publish's outcome once done
}

// result waits for the entry's PubAck (or only looks, when block is false). The future's
// channels deliver once, so the outcome is kept in the entry: ready reports whether it is known.
func (e *inflight) result(ctx context.Context, block bool) (ready bool, err error) {
	if e.fut == nil || e.done {
		return true, e.err
	}
	if e.ok == nil {
		e.ok, e.fail = e.fut.Ok(), e.fut.Err()
	}
	if !block {
		// One channel per select: a non-blocking receive looks at an empty channel without
		// locking it, where a select over both would lock both on every look.
		select {
		case <-e.ok:
			e.done = true
			return true, nil
		default:
		}
		select {
		case err := <-e.fail:
			e.done, e.err = true, err
			return true, err
		default:
		}
		return false, nil
	}
	select {
	case <-e.ok:
		e.done = true
		return true, nil
	case err := <-e.fail:
		e.done, e.err = true, err
		return true, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (p *pipeline) publish(ctx context.Context, msg *nats.Msg, next Checkpoint) error {
	var fut jetstream.PubAckFuture
	if msg != nil {
		f, err := p.js.PublishMsgAsync(msg)
		if err != nil && errTooLarge(err) && p.tooLarge != nil {
			if err := p.tooLarge(ctx, msg, err); err != nil {
				return err
			}
			p.push(inflight{next: next})
			return p.settleReady(ctx)
		}
		if err != nil {
			// Too many stalled publishes or a closed connection: settle what is in flight, then
			// publish this one synchronously with retries.
			if err := p.drain(ctx); err != nil {
				return err
			}
			if err := p.publishSync(ctx, msg); err != nil {
				return err
			}
			p.push(inflight{next: next})
			return p.settleReady(ctx)
		}
		fut = f
	}
	p.push(inflight{msg: msg, fut: fut, next: next})
	for p.pending() >= p.window {
		if err := p.settleHead(ctx); err != nil {
			return err
		}
	}
	// A marker whose predecessors are all acknowledged is committed at once: markers close a
	// window (a day, an export), which is exactly what a restart must not redo.
	return p.settleReady(ctx)
}

// settleReady settles queued entries whose acks have already arrived, without waiting.
func (p *pipeline) settleReady(ctx context.Context) error {
	for p.pending() > 0 {
		head := &p.queue[p.head]
		ready, asyncErr := head.result(ctx, false)
		if !ready {
			return nil
		}
		marker := head.msg == nil && head.next != ""
		if err := p.settle(ctx, asyncErr); err != nil {
			return err
		}
		if marker {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pipeline) settleHead(ctx context.Context) error {
	_, asyncErr := p.queue[p.head].result(ctx, true)
	if errors.Is(asyncErr, ctx.Err()) && ctx.Err() != nil {
		return asyncErr
	}
	return p.settle(ctx, asyncErr)
}

// settle completes the head entry whose async outcome is asyncErr.
func (p *pipeline) settle(ctx context.Context, asyncErr error) error {
	head := p.queue[p.head]
	stored := false // made durable by tooLarge, not on the stream
	if asyncErr != nil {
		// The async publish failed (timeout, stream full, NATS restarting): publish the same
		// message again synchronously. Its Nats-Msg-Id makes a late first copy harmless.
		err := asyncErr
		if !errTooLarge(err) {
			err = p.publishSync(ctx, head.msg)
		}
		if err != nil && errTooLarge(err) && p.tooLarge != nil {
			err, stored = p.tooLarge(ctx, head.msg, err), true
		}
		if err != nil {
			return fmt.Errorf("poll: publish %s after async failure (%v): %w", head.msg.Subject, asyncErr, err)
		}
		p.queue[p.head].err = nil
	}
	if head.msg != nil && !stored {
		p.acked++
	}
	p.pop()
	if head.next != "" {
		p.safe, p.dirty = head.next, true
		p.sinceCommit++
		if p.sinceCommit >= p.commitEvery {
			return p.flush(ctx)
		}
	}
	return nil
}

// pending is the number of unsettled entries.
func (p *pipeline) pending() int { return len(p.queue) - p.head }

func (p *pipeline) push(e inflight) {
	if len(p.queue) == cap(p.queue) && p.head >= len(p.queue)/2 {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	p.queue = append(p.queue, e)
}

// pop removes the head entry, which is settled.
func (p *pipeline) pop() {
	p.queue[p.head] = inflight{}
	p.head++
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
}

func (p *pipeline) publishSync(ctx context.Context, msg *nats.Msg) error {
	return Retry(ctx, p.backoff, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := p.js.PublishMsg(pctx, msg); err != nil {
			if errTooLarge(err) {
				return err // that message's own failure: no retry mends it
			}
			// Every other publish failure is worth retrying: a full stream drains, a restarted
			// server comes back. Retry's attempt limit bounds it.
			return &TemporaryError{Err: err}
		}
		return nil
	})
}

// drain waits for every in-flight publish and commits the safe checkpoint, also when a
// publish failed: what was acknowledged before it need not be fetched again.
func (p *pipeline) drain(ctx context.Context) error {
	for p.pending() > 0 {
		if err := p.settleHead(ctx); err != nil {
			return errors.Join(err, p.flush(ctx))
		}
	}
	return p.flush(ctx)
}

func (p *pipeline) flush(ctx context.Context) error {
	if !p.dirty {
		return nil
	}
	if err := p.commit(ctx, p.safe); err != nil {
		return err
	}
	p.dirty, p.sinceCommit = false, 0
	return nil
}
