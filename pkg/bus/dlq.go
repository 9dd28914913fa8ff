package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/events"
)

// Headers a dead-lettered message carries besides the original ones (DESIGN.md §4, contract).
const (
	HeaderError            = "chargeline-error"             // why the message was dead-lettered
	HeaderStage            = "chargeline-stage"             // normalize, sink
	HeaderOriginalSubject  = "chargeline-original-subject"  // where the message was read from
	HeaderOriginalSequence = "chargeline-original-sequence" // its sequence in that stream
	HeaderAttempts         = "chargeline-attempts"          // deliveries, the failed last one included
)

// ReasonMaxDeliveries prefixes the chargeline-error of a message that kept failing with errors
// that are worth a retry until its deliveries ran out.
const ReasonMaxDeliveries = "max deliveries exceeded"

// maxReasonLen keeps a reason a readable header, not a stack dump.
const maxReasonLen = 1024

// DLQConfig configures the DLQ middleware.
type DLQConfig struct {
	// Publisher stores dead letters and must wait for their PubAck (Publisher does). Required.
	Publisher message.Publisher
	// Stage names the stage in dlq.<stage>.<provider> and chargeline-stage. Required.
	Stage string
	// MaxDeliver is the delivery on which a message that keeps failing (with anything but
	// ErrUnavailable) is dead-lettered with ReasonMaxDeliveries. 0 = never.
	MaxDeliver int
	// Poison decides which handler errors are not worth a retry; default IsPoison.
	Poison func(error) bool
	// Provider names the provider of a message; default ProviderOf(Subject(msg)).
	Provider func(msg *message.Message) string
	// DeadLettered, if set, is called after a message was stored in the DLQ (metrics).
	DeadLettered func(msg *message.Message, provider, reason string)
	// Logger receives one warning per dead letter; nil discards.
	Logger *slog.Logger
}

// IsPoison reports whether err means that retrying cannot help: the record cannot be mapped
// (events.ErrUnmappable) or the handler panicked on it (watermill's RecoveredPanicError).
func IsPoison(err error) bool {
	var p middleware.RecoveredPanicError
	return errors.Is(err, events.ErrUnmappable) || errors.As(err, &p)
}

// ProviderOf returns the provider token of a chargeline subject: raw.<provider>.<resource>,
// events.<type>.v1.<provider>, dlq.<stage>.<provider>; "unknown" for anything else.
func ProviderOf(subject string) string {
	t := strings.Split(subject, ".")
	switch {
	case len(t) == 3 && t[0] == "raw":
		return t[1]
	case len(t) == 3 && t[0] == "dlq":
		return t[2]
	case len(t) == 4 && t[0] == "events":
		return t[3]
	}
	return "unknown"
}

// DLQ returns a middleware in the shape of watermill's PoisonQueueWithFilter that routes handler
// failures (DESIGN.md §4):
//   - an error Poison accepts, or any error but ErrUnavailable on the MaxDeliver-th delivery,
//     publishes the message to dlq.<stage>.<provider> with its original body and headers plus
//     chargeline-error (the reason), chargeline-stage, chargeline-original-subject,
//     chargeline-original-sequence, chargeline-attempts, and Nats-Msg-Id
//     "dlq-<stage>-<original sequence>-<ce-id>" so a redelivered poison message is stored once,
//     while a replayed copy (a new sequence) that fails again is dead-lettered again; once the DLQ
//     has its PubAck the handler reports success, so the original is acknowledged;
//   - any other error is returned unchanged, so the message is Nacked and redelivered later
//     (Subscriber's NakDelay); an error wrapping ErrUnavailable always is, on every delivery: the
//     consumer must allow unlimited deliveries, or JetStream gives up on such a message;
//   - if the DLQ publish fails, both errors are returned: the original is Nacked, not lost.
//
// Add it outside watermill's Recoverer, so it sees panics as RecoveredPanicError.
func DLQ(cfg DLQConfig) (message.HandlerMiddleware, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("bus: DLQConfig.Publisher is missing")
	}
	if cfg.Stage == "" || strings.ContainsAny(cfg.Stage, ".*> ") {
		return nil, fmt.Errorf("bus: DLQConfig.Stage must be one subject token, got %q", cfg.Stage)
	}
	if cfg.Poison == nil {
		cfg.Poison = IsPoison
	}
	if cfg.Provider == nil {
		cfg.Provider = func(msg *message.Message) string { return ProviderOf(Subject(msg)) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil {
				return out, nil
			}
			attempts := Delivered(msg)
			var reason string
			switch {
			case cfg.Poison(err):
				reason = describe(err)
			case errors.Is(err, ErrUnavailable):
				// The bus could not take the handler's output: nothing is wrong with the message,
				// however often that happens. It waits for the bus, redelivered.
				return out, err
			case cfg.MaxDeliver > 0 && attempts >= uint64(cfg.MaxDeliver):
				reason = ReasonMaxDeliveries + ": " + describe(err)
			default:
				return out, err
			}
			provider := cfg.Provider(msg)
			if perr := cfg.Publisher.Publish("dlq."+cfg.Stage+"."+provider, deadLetter(msg, cfg.Stage, reason, attempts)); perr != nil {
				return nil, errors.Join(err, fmt.Errorf("bus: dead-letter to dlq.%s.%s: %w", cfg.Stage, provider, perr))
			}
			cfg.Logger.LogAttrs(msg.Context(), slog.LevelWarn, "message dead-lettered",
				slog.String("provider", provider), slog.String("subject", Subject(msg)),
				slog.Uint64("stream_seq", StreamSequence(msg)), slog.String("ce_id", msg.UUID),
				slog.Uint64("attempt", attempts), slog.String("error", reason))
			if cfg.DeadLettered != nil {
				cfg.DeadLettered(msg, provider, reason)
			}
			return nil, nil
		}
	}, nil
}

// deadLetter copies msg with the DLQ headers.
func deadLetter(msg *message.Message, stage, reason string, attempts uint64) *message.Message {
	id := msg.Metadata.Get(events.HeaderID)
	if id == "" {
		id = msg.UUID
	}
	dl := message.NewMessage(msg.UUID, msg.Payload)
	dl.Metadata = make(message.Metadata, len(msg.Metadata)+6)
	for k, v := range msg.Metadata {
		dl.Metadata[k] = v
	}
	dl.Metadata[HeaderError] = reason
	dl.Metadata[HeaderStage] = stage
	dl.Metadata[HeaderOriginalSubject] = Subject(msg)
	dl.Metadata[HeaderOriginalSequence] = strconv.FormatUint(StreamSequence(msg), 10)
	dl.Metadata[HeaderAttempts] = strconv.FormatUint(attempts, 10)
	dl.Metadata[nats.MsgIdHdr] = "dlq-" + stage + "-" + strconv.FormatUint(StreamSequence(msg), 10) + "-" + id
	dl.SetContext(msg.Context())
	return dl
}

// describe makes err a header value: one line, bounded, and for a panic the panic value without
// the stack trace (the router logs that).
func describe(err error) string {
	s := err.Error()
	var p middleware.RecoveredPanicError
	if errors.As(err, &p) {
		s = fmt.Sprintf("panic: %v", p.V)
	}
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen] + "…"
	}
	return s
}
