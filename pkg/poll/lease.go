package poll

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLeaseHeld is returned by Acquire when another holder owns the scope.
var ErrLeaseHeld = errors.New("poll: lease held by another poller")

// Lease is the exclusive right to poll one scope. It lives in the poller_leases bucket, whose
// TTL is the lease duration: the holder renews by updating its key, and a crashed holder's key
// expires so another replica can take the scope over.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	rev    uint64
}

// Acquire takes the lease of a scope for holder, or returns ErrLeaseHeld.
func Acquire(ctx context.Context, kv jetstream.KeyValue, provider, scope, holder string) (*Lease, error) {
	key := Key(provider, scope)
	rev, err := kv.Create(ctx, key, []byte(holder))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, ErrLeaseHeld
	}
	if err != nil {
		return nil, fmt.Errorf("poll: acquire lease %s: %w", key, err)
	}
	return &Lease{kv: kv, key: key, holder: holder, rev: rev}, nil
}

// Renew extends the lease. ErrConflict means it expired and someone else took it: the holder
// must stop working on the scope at once.
func (l *Lease) Renew(ctx context.Context) error {
	rev, err := l.kv.Update(ctx, l.key, []byte(l.holder), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("poll: renew lease %s: %w", l.key, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("poll: renew lease %s: %w", l.key, err)
	}
	l.rev = rev
	return nil
}

// Release gives the lease up if it is still ours, so a replica can take over without waiting
// for the TTL.
func (l *Lease) Release(ctx context.Context) error {
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("poll: release lease %s: %w", l.key, err)
	}
	return nil
}
