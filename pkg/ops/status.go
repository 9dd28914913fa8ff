package ops

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/providers"
)

// StatusReport is what `chargectl status` shows.
type StatusReport struct {
	Streams     []StreamStatus     `json:"streams"`
	Consumers   []ConsumerStatus   `json:"consumers"`
	Checkpoints []CheckpointStatus `json:"checkpoints"`
}

// StreamStatus is one stream's state.
type StreamStatus struct {
	Name      string     `json:"name"`
	Messages  uint64     `json:"messages"`
	Bytes     uint64     `json:"bytes"`
	FirstSeq  uint64     `json:"first_seq"`
	LastSeq   uint64     `json:"last_seq"`
	FirstTime *time.Time `json:"first_time,omitempty"`
	LastTime  *time.Time `json:"last_time,omitempty"`
}

// ConsumerStatus is one durable consumer's lag.
type ConsumerStatus struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Pending is how many stored messages the consumer has not been given yet: its lag.
	Pending uint64 `json:"num_pending"`
	// AckPending is how many were delivered and await their acknowledgement.
	AckPending int `json:"num_ack_pending"`
	// Redelivered is how many unacknowledged messages were delivered more than once.
	Redelivered   int        `json:"num_redelivered"`
	Waiting       int        `json:"num_waiting"`
	AckFloor      uint64     `json:"ack_floor_stream_seq"`
	LastDelivered *time.Time `json:"last_delivered,omitempty"`
}

// Status reads every chargeline stream, every durable consumer on them, and every poller
// checkpoint (with the lease holder of its scope, if any).
func Status(ctx context.Context, js jetstream.JetStream, provs []providers.Provider, now time.Time) (*StatusReport, error) {
	rep := &StatusReport{Streams: []StreamStatus{}, Consumers: []ConsumerStatus{}}
	for _, name := range []string{bus.StreamRaw, bus.StreamEvents, bus.StreamDLQ} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		s := info.State
		rep.Streams = append(rep.Streams, StreamStatus{
			Name: name, Messages: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq,
			FirstTime: timePtr(nonEmpty(s.FirstTime, s.Msgs)), LastTime: timePtr(nonEmpty(s.LastTime, s.Msgs)),
		})
		cl := st.ListConsumers(ctx)
		for ci := range cl.Info() {
			if ci.Config.Durable == "" {
				continue // ordered consumers of tools (this one included) come and go
			}
			c := ConsumerStatus{
				Stream: name, Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
				Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting, AckFloor: ci.AckFloor.Stream,
			}
			if ci.Delivered.Last != nil {
				c.LastDelivered = timePtr(*ci.Delivered.Last)
			}
			rep.Consumers = append(rep.Consumers, c)
		}
		if err := cl.Err(); err != nil {
			return nil, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	slices.SortFunc(rep.Consumers, func(a, b ConsumerStatus) int {
		return strings.Compare(a.Stream+"/"+a.Name, b.Stream+"/"+b.Name)
	})
	cps, err := listCheckpoints(ctx, js, provs, "", nil, now)
	if err != nil {
		return nil, err
	}
	rep.Checkpoints = cps
	return rep, nil
}

// nonEmpty hides the epoch times an empty stream reports.
func nonEmpty(t time.Time, msgs uint64) time.Time {
	if msgs == 0 || t.Unix() <= 0 {
		return time.Time{}
	}
	return t
}

func (r *StatusReport) table(w io.Writer) {
	fmt.Fprintln(w, "STREAM\tMESSAGES\tBYTES\tFIRST SEQ\tLAST SEQ\tFIRST\tLAST")
	for _, s := range r.Streams {
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Messages, humanBytes(s.Bytes), s.FirstSeq, s.LastSeq, timeOrDash(s.FirstTime), timeOrDash(s.LastTime))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CONSUMER\tSTREAM\tPENDING\tACK PENDING\tREDELIVERED\tACK FLOOR\tLAST DELIVERED")
	if len(r.Consumers) == 0 {
		fmt.Fprintln(w, "(none: no normalizer or sink has started)")
	}
	for _, c := range r.Consumers {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Stream, c.Pending, c.AckPending, c.Redelivered, c.AckFloor, timeOrDash(c.LastDelivered))
	}
	fmt.Fprintln(w)
	checkpointTable(w, r.Checkpoints)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return timeText(*t)
}

func statusCommand() command {
	return command{
		name: "status", synopsis: "[--json]",
		summary: "streams, consumer lag and every poller checkpoint with its age",
		help: `Shows the streams RAW, EVENTS and DLQ (messages, bytes, first and last sequence and time), every
durable consumer on them (num pending = messages not yet delivered, i.e. the lag; ack pending =
delivered, awaiting acknowledgement; redelivered = unacknowledged messages delivered more than
once), and every poller checkpoint: position, last write (the KV entry's time) and its age, and
the replica holding the scope's lease. A checkpoint that keeps ageing while its scope has a
lease means the poller is stuck on it.`,
		settings: natsSettings(),
		run: func(ctx context.Context, s *session) (report, error) {
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			return reportOrNil(Status(ctx, js, s.env.Providers, s.env.Now()))
		},
	}
}
