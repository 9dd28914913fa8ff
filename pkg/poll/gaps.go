package poll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
)

// Gaps stores the gaps of every provider in the poller_gaps bucket, one key per gap. The key is
// derived from what the gap is about (never from when it was found), so a re-poll that meets
// the same tie or the same oversized record again rewrites one entry instead of adding one.
type Gaps struct {
	kv jetstream.KeyValue
}

// NewGaps wraps the poller_gaps bucket.
func NewGaps(kv jetstream.KeyValue) *Gaps { return &Gaps{kv: kv} }

// OpenGaps opens the poller_gaps bucket (provisioned by bus.Provision).
func OpenGaps(ctx context.Context, js jetstream.JetStream) (*Gaps, error) {
	kv, err := js.KeyValue(ctx, bus.BucketGaps)
	if err != nil {
		return nil, fmt.Errorf("poll: open bucket %s: %w", bus.BucketGaps, err)
	}
	return NewGaps(kv), nil
}

// GapKey is the bucket key of g: the scope's checkpoint key and a hash of what the gap is
// about.
func GapKey(g Gap) string {
	h := sha256.New()
	for _, part := range []string{g.Kind, g.Resource, g.RecordID, g.At.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return Key(g.Provider, g.Scope) + "." + hex.EncodeToString(h.Sum(nil)[:12])
}

// Record stores g. A gap already recorded is kept with its first Found time, so the age of a
// gap says how long it has been open.
func (s *Gaps) Record(ctx context.Context, g Gap) error {
	key := GapKey(g)
	if e, err := s.kv.Get(ctx, key); err == nil {
		var old Gap
		if json.Unmarshal(e.Value(), &old) == nil && !old.Found.IsZero() {
			g.Found = old.Found
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("poll: read gap %s: %w", key, err)
	}
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("poll: encode gap: %w", err)
	}
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("poll: record gap %s: %w", key, err)
	}
	return nil
}

// List returns the gaps of provider ("" = every provider), oldest found first.
func (s *Gaps) List(ctx context.Context, provider string) ([]Gap, error) {
	filter := ">"
	if provider != "" {
		filter = provider + ".>"
	}
	keys, err := s.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("poll: list gaps: %w", err)
	}
	var out []Gap
	for key := range keys.Keys() {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted while listing
		}
		if err != nil {
			return nil, fmt.Errorf("poll: read gap %s: %w", key, err)
		}
		var g Gap
		if err := json.Unmarshal(e.Value(), &g); err != nil {
			return nil, fmt.Errorf("poll: gap %s is not a gap: %w", key, err)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Gap) int {
		if c := a.Found.Compare(b.Found); c != 0 {
			return c
		}
		return bytes.Compare([]byte(GapKey(a)), []byte(GapKey(b)))
	})
	return out, nil
}

// Delete removes g's entry (an operator dealt with it).
func (s *Gaps) Delete(ctx context.Context, g Gap) error {
	if err := s.kv.Delete(ctx, GapKey(g)); err != nil {
		return fmt.Errorf("poll: delete gap %s: %w", GapKey(g), err)
	}
	return nil
}

// ListGaps returns the gaps recorded for provider ("" = every provider).
func ListGaps(ctx context.Context, js jetstream.JetStream, provider string) ([]Gap, error) {
	g, err := OpenGaps(ctx, js)
	if err != nil {
		return nil, err
	}
	return g.List(ctx, provider)
}

// Describe is the gap in one line for logs and tables.
func (g Gap) Describe() string {
	switch g.Kind {
	case GapTie:
		return fmt.Sprintf("more %s records share %s than one page holds: %d read, the rest cannot be asked for with a strictly-after cursor",
			g.Resource, g.At.UTC().Format(time.RFC3339Nano), g.Read)
	case GapOversized:
		return fmt.Sprintf("%s %s is %d bytes, above the %d the bus takes; its bytes are in object store %s as %s",
			g.Resource, g.RecordID, g.Size, g.Limit, bus.ObjectsOversized, g.Object)
	}
	return g.Kind + ": " + g.Detail
}

// errTooLarge reports whether a publish failed because the message is larger than the
// connection's max payload or the stream's maximum message size: a failure of that message
// alone, which no retry mends.
func errTooLarge(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// msgSize is what NATS counts against its max payload: headers and data.
func msgSize(msg *nats.Msg) int {
	n := len(msg.Data)
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // "k: v\r\n"
		}
	}
	return n + len("NATS/1.0\r\n\r\n")
}
