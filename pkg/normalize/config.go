package normalize

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
)

// Config configures a Normalizer. The zero value of each field means its default.
type Config struct {
	// Providers names the providers whose raw records this instance maps; empty = every provider
	// passed to New. (--normalizer-providers/NORMALIZER_PROVIDERS)
	Providers []string
	// MaxDeliver is how often a record is tried before it is dead-lettered with "max deliveries
	// exceeded"; default 5. Failures of EVENTS itself (bus.ErrUnavailable) never dead-letter a
	// record. (--normalizer-max-deliver/NORMALIZER_MAX_DELIVER)
	MaxDeliver int
	// RetryDelay is the delay before the first redelivery of a record that failed with an error
	// worth retrying; it doubles with every attempt up to RetryMaxDelay. Default 1s.
	// (--normalizer-retry-delay/NORMALIZER_RETRY_DELAY)
	RetryDelay time.Duration
	// RetryMaxDelay caps the redelivery delay; default 1m.
	// (--normalizer-retry-max-delay/NORMALIZER_RETRY_MAX_DELAY)
	RetryMaxDelay time.Duration
	// Concurrency is how many records of one provider an instance has in flight; default 256.
	// A record holds its slot until its events' PubAcks arrive, so the slots, not the CPU, bound
	// the rate when they are few: 64 left the normalizer at 0.4× its bare loop in `make bench`,
	// 256 brought it to 0.9–1.0×.
	// (--normalizer-concurrency/NORMALIZER_CONCURRENCY)
	Concurrency int
	// AckWait is how long a record may take before JetStream hands it to another replica;
	// default 30s. (--normalizer-ack-wait/NORMALIZER_ACK_WAIT)
	AckWait time.Duration
	// CloseTimeout bounds how long Run waits for in-flight records once its context ends;
	// default 30s. (--normalizer-close-timeout/NORMALIZER_CLOSE_TIMEOUT)
	CloseTimeout time.Duration
	// SchemaValidation also validates every event's JSON against its JSON Schema document
	// before it is published; an event that fails is dead-lettered. Off by default: every event
	// already passed its type's Check in events.NewEvent, which enforces the same rules (held to
	// the schemas by the tests in schemas/events) at a hundredth of the cost — this costs about
	// 100 µs per event. (--normalizer-schema-validation/NORMALIZER_SCHEMA_VALIDATION)
	SchemaValidation bool
	// Tracing, when set, makes each record's mapping a span, a child of the page span its
	// ce-traceparent names, and gives every event it produces that span as its ce-traceparent.
	// Nil: no tracing, and no header read or written for it.
	Tracing trace.TracerProvider
}

// Settings declares the normalizer's settings; the default of NORMALIZER_PROVIDERS lists every
// provider chargeline ships.
func Settings() []config.Setting {
	var names []string
	for _, p := range providers.All() {
		names = append(names, p.Name())
	}
	return []config.Setting{
		{Name: "normalizer-providers", Env: "NORMALIZER_PROVIDERS", Kind: config.List, Default: strings.Join(names, ","), Usage: "providers whose raw records this instance maps, comma-separated"},
		{Name: "normalizer-max-deliver", Env: "NORMALIZER_MAX_DELIVER", Kind: config.Int, Default: "5", Min: 1, Usage: "deliveries of a failing record before it goes to the DLQ"},
		{Name: "normalizer-retry-delay", Env: "NORMALIZER_RETRY_DELAY", Kind: config.Duration, Default: "1s", Min: int64(time.Millisecond), Usage: "delay before a failed record is redelivered; doubles per attempt"},
		{Name: "normalizer-retry-max-delay", Env: "NORMALIZER_RETRY_MAX_DELAY", Kind: config.Duration, Default: "1m", Min: int64(time.Millisecond), Usage: "largest redelivery delay"},
		{Name: "normalizer-concurrency", Env: "NORMALIZER_CONCURRENCY", Kind: config.Int, Default: "256", Min: 1, Usage: "records of one provider mapped at once per instance"},
		{Name: "normalizer-ack-wait", Env: "NORMALIZER_ACK_WAIT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "how long a record may take before JetStream redelivers it"},
		{Name: "normalizer-close-timeout", Env: "NORMALIZER_CLOSE_TIMEOUT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "how long shutdown waits for in-flight records"},
		{Name: "normalizer-schema-validation", Env: "NORMALIZER_SCHEMA_VALIDATION", Kind: config.Bool, Default: "false", Usage: "also validate each event's JSON against its JSON Schema document (slow; every event passes the equivalent typed check anyway)"},
	}
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		Providers:        v.List("normalizer-providers"),
		MaxDeliver:       v.Int("normalizer-max-deliver"),
		RetryDelay:       v.Duration("normalizer-retry-delay"),
		RetryMaxDelay:    v.Duration("normalizer-retry-max-delay"),
		Concurrency:      v.Int("normalizer-concurrency"),
		AckWait:          v.Duration("normalizer-ack-wait"),
		CloseTimeout:     v.Duration("normalizer-close-timeout"),
		SchemaValidation: v.Bool("normalizer-schema-validation"),
	}
}

// GCPercent is the normalizer binary's garbage-collector target (GOGC) unless GOGC sets one.
// Its live heap is small (the records in flight) next to what it allocates per record, so at
// Go's 100 it collects often: at 400, `make bench` measured a third less CPU per record
// (0.066 → 0.046 s per 1k) for a peak RSS of 81 MB instead of 54 (its bound is 100). The sink,
// whose batches are a large live heap, stays at 100 (at 400: 249 MB against its 150).
const GCPercent = 400

func (c *Config) setDefaults() {
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = time.Second
	}
	if c.RetryMaxDelay == 0 {
		c.RetryMaxDelay = time.Minute
	}
	if c.Concurrency == 0 {
		c.Concurrency = 256
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
}

// Validate reports every invalid field, each naming its setting; the error wraps
// config.ErrInvalid.
func (c Config) Validate() error {
	var errs []error
	bad := func(setting, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s %s", config.ErrInvalid, setting, fmt.Sprintf(format, a...)))
	}
	if c.MaxDeliver < 1 {
		bad("--normalizer-max-deliver/NORMALIZER_MAX_DELIVER", "must be ≥ 1, got %d", c.MaxDeliver)
	}
	if c.RetryDelay <= 0 {
		bad("--normalizer-retry-delay/NORMALIZER_RETRY_DELAY", "must be > 0, got %s", c.RetryDelay)
	}
	if c.RetryMaxDelay < c.RetryDelay {
		bad("--normalizer-retry-max-delay/NORMALIZER_RETRY_MAX_DELAY", "must be ≥ the retry delay %s, got %s", c.RetryDelay, c.RetryMaxDelay)
	}
	if c.Concurrency < 1 {
		bad("--normalizer-concurrency/NORMALIZER_CONCURRENCY", "must be ≥ 1, got %d", c.Concurrency)
	}
	if c.AckWait < time.Second {
		bad("--normalizer-ack-wait/NORMALIZER_ACK_WAIT", "must be ≥ 1s, got %s", c.AckWait)
	}
	if c.CloseTimeout <= 0 {
		bad("--normalizer-close-timeout/NORMALIZER_CLOSE_TIMEOUT", "must be > 0, got %s", c.CloseTimeout)
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if seen[p] {
			bad("--normalizer-providers/NORMALIZER_PROVIDERS", "names %q twice", p)
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}
