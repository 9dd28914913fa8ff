package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/config"
)

// Stream and bucket names (DESIGN.md §3, contract).
const (
	StreamRaw         = "RAW"
	StreamEvents      = "EVENTS"
	StreamDLQ         = "DLQ"
	BucketCheckpoints = "poller_checkpoints"
	BucketLeases      = "poller_leases"
	// BucketGaps holds one entry per gap: provider data the poller knows of and could not put
	// on RAW (poll.Gap). Entries never expire: an operator removes one once it is dealt with.
	BucketGaps = "poller_gaps"
	// ObjectsOversized keeps the bytes of provider records too large for a RAW message, so a
	// record reported as an oversized gap can still be read.
	ObjectsOversized = "poller_oversized"
)

// Topology holds the retention settings of the streams and buckets.
type Topology struct {
	RawMaxAge     time.Duration // default 7 days
	EventsMaxAge  time.Duration // default 7 days
	DLQMaxAge     time.Duration // default 30 days
	Duplicates    time.Duration // duplicate window of every stream; default 2h
	Replicas      int           // default 1; 3 on a cluster
	LeaseTTL      time.Duration // a lease not renewed for this long is free; default 30s
	MaxBytes      int64         // per stream; -1 = unlimited (default)
	MemoryStorage bool          // tests and benchmarks only
}

// TopologySettings declares the bus settings every service shares.
func TopologySettings() []config.Setting {
	return []config.Setting{
		{Name: "raw-max-age", Env: "RAW_MAX_AGE", Kind: config.Duration, Default: "168h", Min: int64(time.Minute), Usage: "how long RAW keeps messages"},
		{Name: "events-max-age", Env: "EVENTS_MAX_AGE", Kind: config.Duration, Default: "168h", Min: int64(time.Minute), Usage: "how long EVENTS keeps messages"},
		{Name: "dlq-max-age", Env: "DLQ_MAX_AGE", Kind: config.Duration, Default: "720h", Min: int64(time.Minute), Usage: "how long DLQ keeps messages"},
		{Name: "duplicate-window", Env: "DUPLICATE_WINDOW", Kind: config.Duration, Default: "2h", Min: int64(time.Second), Usage: "JetStream duplicate window of every stream (absorbs re-poll overlap)"},
		{Name: "stream-replicas", Env: "STREAM_REPLICAS", Kind: config.Int, Default: "1", Min: 1, Usage: "replicas of every stream and bucket (3 on a NATS cluster)"},
		{Name: "lease-ttl", Env: "LEASE_TTL", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "a poller lease not renewed for this long is taken over"},
	}
}

// TopologyFrom reads TopologySettings from v.
func TopologyFrom(v config.Values) Topology {
	return Topology{
		RawMaxAge:    v.Duration("raw-max-age"),
		EventsMaxAge: v.Duration("events-max-age"),
		DLQMaxAge:    v.Duration("dlq-max-age"),
		Duplicates:   v.Duration("duplicate-window"),
		Replicas:     v.Int("stream-replicas"),
		LeaseTTL:     v.Duration("lease-ttl"),
	}
}

func (t *Topology) setDefaults() {
	if t.RawMaxAge <= 0 {
		t.RawMaxAge = 7 * 24 * time.Hour
	}
	if t.EventsMaxAge <= 0 {
		t.EventsMaxAge = 7 * 24 * time.Hour
	}
	if t.DLQMaxAge <= 0 {
		t.DLQMaxAge = 30 * 24 * time.Hour
	}
	if t.Duplicates <= 0 {
		t.Duplicates = 2 * time.Hour
	}
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	if t.LeaseTTL <= 0 {
		t.LeaseTTL = 30 * time.Second
	}
	if t.MaxBytes == 0 {
		t.MaxBytes = -1
	}
}

// Streams returns the stream configurations of t (deploy/ holds the same for operators).
func (t Topology) Streams() []jetstream.StreamConfig {
	t.setDefaults()
	storage := jetstream.FileStorage
	if t.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	mk := func(name, subject, desc string, age time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subject},
			Retention:   jetstream.LimitsPolicy,
			Storage:     storage,
			MaxAge:      age,
			MaxBytes:    t.MaxBytes,
			// The duplicate window must not exceed MaxAge; JetStream refuses that.
			Duplicates: min(t.Duplicates, age),
			Replicas:   t.Replicas,
			// A full stream refuses new messages (the poller backs off) instead of dropping old ones.
			Discard: jetstream.DiscardNew,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamRaw, "raw.>", "provider records exactly as fetched", t.RawMaxAge),
		mk(StreamEvents, "events.>", "canonical chargeline events", t.EventsMaxAge),
		mk(StreamDLQ, "dlq.>", "messages a stage could not process, with the reason", t.DLQMaxAge),
	}
}

// Provision creates or updates the streams and buckets of t. It is safe to run from every
// replica at once.
func Provision(ctx context.Context, js jetstream.JetStream, t Topology) error {
	t.setDefaults()
	for _, cfg := range t.Streams() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: provision stream %s: %w", cfg.Name, err)
		}
	}
	storage := jetstream.FileStorage
	if t.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	buckets := []jetstream.KeyValueConfig{
		{Bucket: BucketCheckpoints, Description: "poller checkpoint per provider scope", History: 5, Storage: storage, Replicas: t.Replicas},
		// The bucket's TTL is the lease: a holder renews by updating its key; a dead holder's key
		// expires and the scope is free again.
		{Bucket: BucketLeases, Description: "poller lease per provider scope", History: 1, TTL: t.LeaseTTL, Storage: storage, Replicas: t.Replicas},
		{Bucket: BucketGaps, Description: "provider data the poller could not put on RAW (ties beyond a page, oversized records)", History: 1, Storage: storage, Replicas: t.Replicas},
	}
	for _, cfg := range buckets {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("bus: provision bucket %s: %w", cfg.Bucket, err)
		}
	}
	objects := jetstream.ObjectStoreConfig{Bucket: ObjectsOversized, Description: "provider records too large for a RAW message (poller gaps of kind oversized)", Storage: storage, Replicas: t.Replicas}
	if _, err := js.CreateOrUpdateObjectStore(ctx, objects); err != nil {
		return fmt.Errorf("bus: provision object store %s: %w", objects.Bucket, err)
	}
	return nil
}

// ErrNotProvisioned is returned by CheckProvisioned when a stream or bucket is missing.
var ErrNotProvisioned = errors.New("bus: streams not provisioned")

// CheckProvisioned reports whether every stream exists (for /readyz).
func CheckProvisioned(ctx context.Context, js jetstream.JetStream) error {
	for _, name := range []string{StreamRaw, StreamEvents, StreamDLQ} {
		if _, err := js.Stream(ctx, name); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNotProvisioned, name, err)
		}
	}
	return nil
}
