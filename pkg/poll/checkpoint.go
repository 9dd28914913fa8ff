package poll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict is returned when a checkpoint or lease was changed by someone else since it was
// read: another replica holds the scope now, so this one must stop working on it.
var ErrConflict = errors.New("poll: checkpoint or lease changed by another holder")

// Checkpoints stores one Checkpoint per provider scope in the poller_checkpoints bucket, with
// compare-and-set on the key's revision.
type Checkpoints struct {
	kv jetstream.KeyValue
}

// NewCheckpoints wraps the poller_checkpoints bucket.
func NewCheckpoints(kv jetstream.KeyValue) *Checkpoints { return &Checkpoints{kv: kv} }

// Get returns the scope's checkpoint and its revision; a scope never polled returns "" and 0.
func (c *Checkpoints) Get(ctx context.Context, provider, scope string) (Checkpoint, uint64, error) {
	cp, rev, _, err := c.get(ctx, provider, scope)
	return cp, rev, err
}

// get is Get plus when the checkpoint was written (zero for a scope never polled).
func (c *Checkpoints) get(ctx context.Context, provider, scope string) (Checkpoint, uint64, time.Time, error) {
	e, err := c.kv.Get(ctx, Key(provider, scope))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, time.Time{}, nil
	}
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("poll: read checkpoint %s/%s: %w", provider, scope, err)
	}
	return Checkpoint(e.Value()), e.Revision(), e.Created(), nil
}

// Set stores cp if the key is still at revision rev (0: the key must not exist yet) and returns
// the new revision. A concurrent change returns ErrConflict.
func (c *Checkpoints) Set(ctx context.Context, provider, scope string, cp Checkpoint, rev uint64) (uint64, error) {
	key := Key(provider, scope)
	var (
		next uint64
		err  error
	)
	if rev == 0 {
		next, err = c.kv.Create(ctx, key, []byte(cp))
	} else {
		next, err = c.kv.Update(ctx, key, []byte(cp), rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("poll: write checkpoint %s/%s: %w", provider, scope, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("poll: write checkpoint %s/%s: %w", provider, scope, err)
	}
	return next, nil
}

// Key is the bucket key of a provider scope. Scope characters a KV key cannot hold are escaped
// as _XX (hex), so any provider id maps to exactly one key.
func Key(provider, scope string) string {
	var b strings.Builder
	b.WriteString(provider)
	b.WriteByte('.')
	for i := 0; i < len(scope); i++ {
		c := scope[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '=':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}
