package sink

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// DLQ headers (DESIGN.md §4, contract).
const (
	HeaderError            = "chargeline-error"
	HeaderStage            = "chargeline-stage"
	HeaderOriginalSubject  = "chargeline-original-subject"
	HeaderOriginalSequence = "chargeline-original-sequence"
	HeaderAttempts         = "chargeline-attempts"
)

// DLQSubject is where the sink dead-letters a provider's messages.
func DLQSubject(provider string) string { return "dlq.sink." + provider }

// deadLetter publishes the message to dlq.sink.<provider> with the original body and headers
// plus the reason, waits for the PubAck, then acknowledges the original. While the DLQ cannot
// be reached it retries with backoff; it returns ctx's error if ctx ends first (the original
// stays unacknowledged and is redelivered).
func (l *loop) deadLetter(ctx context.Context, table string, it *item, reason error) error {
	h := nats.Header{}
	for k, v := range it.src.header {
		h[k] = append([]string(nil), v...)
	}
	h[HeaderError] = []string{headerValue(reason.Error())}
	h[HeaderStage] = []string{"sink"}
	h[HeaderOriginalSubject] = []string{it.src.subject}
	h[HeaderOriginalSequence] = []string{strconv.FormatUint(it.src.seq, 10)}
	h[HeaderAttempts] = []string{strconv.FormatUint(it.attempts, 10)}
	// The original sequence makes a replayed copy that fails again a new dead letter, while a
	// redelivery of the same message is stored once.
	id := l.stream + "-" + strconv.FormatUint(it.src.seq, 10)
	if it.ceID != "" {
		id += "-" + it.ceID
	}
	h[nats.MsgIdHdr] = []string{"dlq-sink-" + id}
	msg := &nats.Msg{Subject: DLQSubject(it.src.provider), Header: h, Data: it.src.data}
	for attempt := 1; ; attempt++ {
		_, err := l.s.js.PublishMsg(ctx, msg)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("dlq publish failed; retrying", slog.String("subject", msg.Subject), slog.Int("attempt", attempt), slog.String("error", err.Error()))
		l.keepAlive(time.Now())
		if err := sleep(ctx, l.s.backoff(attempt)); err != nil {
			return err
		}
	}
	l.s.m.dlq.WithLabelValues(table).Inc()
	l.log.Warn("message dead-lettered", slog.String("table", table), slog.String("subject", it.src.subject),
		slog.Uint64("stream_seq", it.src.seq), slog.String("ce_id", it.ceID), slog.String("error", h[HeaderError][0]))
	if err := it.msg.Ack(); err != nil {
		l.log.Debug("ack failed; message will be redelivered", slog.Uint64("stream_seq", it.src.seq), slog.String("error", err.Error()))
	}
	return nil
}

// headerValue makes text safe for a NATS header value: one line, at most 1 KiB.
func headerValue(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "")
	}
	return s
}
