package bus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/events"
)

// Metadata keys CloudEvents.Unmarshal adds to a received message. They describe where the message
// was read from, are never written back as NATS headers, and are read with Subject,
// StreamSequence and Delivered.
const (
	MetaSubject   = "_nats_subject"       // the subject the message was published on
	MetaStream    = "_nats_stream"        // the stream it is stored in
	MetaSequence  = "_nats_stream_seq"    // its stream sequence: the lineage of what it becomes
	MetaDelivered = "_nats_num_delivered" // how often it has been delivered, this time included
)

// internalPrefixes mark metadata that stays in the process: ours, and watermill-nats' UUID header.
var internalPrefixes = []string{"_nats_", wmnats.WatermillUUIDHdr}

// CloudEvents is chargeline's watermill codec: a message is a CloudEvent in NATS binary mode
// (DESIGN.md §4). The watermill UUID is the ce-id; metadata are the headers.
//
// Marshal writes every metadata entry as a header, ce-* and content-type in lower case (NATS
// headers are case-sensitive and CloudEvents SDKs read them so), fills ce-specversion and ce-id
// when missing, and sets Nats-Msg-Id to the ce-id unless the metadata names one itself (the DLQ
// does), so JetStream's duplicate window works on the deterministic id, not on a random UUID.
// It does not insist on ce-source and ce-type: callers build them (events.RawMsg, EventMsg).
//
// Unmarshal keeps every header of the received message as metadata, so that a message can be
// forwarded unchanged (JetStream's Nats-Expected-* publish conditions dropped, and Nats-Msg-Id
// when it is the ce-id, which Marshal writes back), and adds where it was read from:
// MetaSubject, MetaStream, MetaSequence, MetaDelivered.
//
// CloudEvents implements watermill-nats' pkg/nats Marshaler and its pkg/jetstream Unmarshaler
// (a jetstream.Msg carries the stream sequence; a legacy *nats.Msg needs its subscription for
// that). It is stateless and safe for concurrent use.
type CloudEvents struct{}

var (
	_ wmnats.Marshaler        = CloudEvents{}
	_ wmjetstream.Unmarshaler = CloudEvents{}
)

// Marshal turns msg into the NATS message published on topic, a subject.
func (CloudEvents) Marshal(topic string, msg *message.Message) (*nats.Msg, error) {
	h := make(nats.Header, len(msg.Metadata)+3)
	for k, v := range msg.Metadata {
		if internal(k) {
			continue
		}
		h[headerName(k)] = []string{v}
	}
	id := h.Get(events.HeaderID)
	if id == "" {
		id = msg.UUID
		if id == "" {
			return nil, fmt.Errorf("bus: message for %s has neither a ce-id nor a UUID", topic)
		}
		h[events.HeaderID] = []string{id}
	}
	if h.Get(events.HeaderSpecVersion) == "" {
		h[events.HeaderSpecVersion] = []string{"1.0"}
	}
	if h.Get(nats.MsgIdHdr) == "" {
		h[nats.MsgIdHdr] = []string{id}
	}
	return &nats.Msg{Subject: topic, Header: h, Data: msg.Payload}, nil
}

// Unmarshal turns a message read from a JetStream consumer into a watermill message whose UUID
// is its ce-id (or, lacking one, its Nats-Msg-Id, or "<stream>:<sequence>"). It does not fail.
func (CloudEvents) Unmarshal(m jetstream.Msg) (*message.Message, error) {
	hdr := m.Headers()
	// Nats-Msg-Id equal to the ce-id (every message events builds) is left out: Marshal writes
	// it back from the ce-id. A raw record's 11 headers and the 4 receive entries then fit a
	// map of 16 slots instead of 32 (Go's maps fill 7/8 of a table):
	// BenchmarkCloudEventsUnmarshal 1.34 → 0.99 µs and 1,640 → 1,064 bytes per record.
	id := hdr.Get(events.HeaderID)
	n := len(hdr) + 4
	redundant := id != "" && hdr.Get(nats.MsgIdHdr) == id
	if redundant {
		n--
	}
	md := make(message.Metadata, n)
	for k, v := range hdr {
		if len(v) == 0 || strings.HasPrefix(k, "Nats-Expected-") || (redundant && k == nats.MsgIdHdr) {
			continue
		}
		// CloudEvents attributes are single-valued; a repeated header keeps all its values, the
		// way HTTP folds them.
		md[k] = strings.Join(v, ",")
	}
	md[MetaSubject] = m.Subject()
	if id == "" {
		id = hdr.Get(nats.MsgIdHdr)
	}
	if meta, err := m.Metadata(); err == nil {
		md[MetaStream] = meta.Stream
		md[MetaSequence] = strconv.FormatUint(meta.Sequence.Stream, 10)
		md[MetaDelivered] = strconv.FormatUint(meta.NumDelivered, 10)
		if id == "" {
			id = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	if id == "" {
		id = watermill.NewUUID()
	}
	wm := message.NewMessage(id, m.Data())
	wm.Metadata = md
	return wm, nil
}

// Header returns msg's metadata as NATS headers, the way Marshal writes them (without the ce-id,
// specversion and Nats-Msg-Id it would add).
func Header(msg *message.Message) nats.Header {
	h := make(nats.Header, len(msg.Metadata))
	for k, v := range msg.Metadata {
		if !internal(k) {
			h[headerName(k)] = []string{v}
		}
	}
	return h
}

// HeaderValue is Header(msg).Get(key) without building the header: the metadata holds the
// headers under the names they were sent with, so an exact match is the common case, and a
// name sent in another case (Ce-Id for ce-id) is found as Header would name it.
func HeaderValue(msg *message.Message, key string) string {
	if v, ok := msg.Metadata[key]; ok && !internal(key) && headerName(key) == key {
		return v
	}
	for k, v := range msg.Metadata {
		// headerName changes only the case: a name of another length or spelling cannot match.
		if len(k) == len(key) && strings.EqualFold(k, key) && !internal(k) && headerName(k) == key {
			return v
		}
	}
	return ""
}

// Subject returns the subject a received message was published on.
func Subject(msg *message.Message) string { return msg.Metadata.Get(MetaSubject) }

// StreamSequence returns the stream sequence of a received message; 0 when it did not come from
// a stream.
func StreamSequence(msg *message.Message) uint64 { return metaUint(msg, MetaSequence) }

// Delivered returns how often a received message has been delivered, this delivery included;
// 0 when it did not come from a consumer.
func Delivered(msg *message.Message) uint64 { return metaUint(msg, MetaDelivered) }

func metaUint(msg *message.Message, key string) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(key), 10, 64)
	return n
}

func internal(key string) bool {
	for _, p := range internalPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// headerName writes the CloudEvents binding's headers in lower case and JetStream's own header
// in its canonical spelling; everything else is kept as given.
func headerName(k string) string {
	// Called for every header of every message: nothing here allocates unless k has an upper
	// case letter (strings.ToLower returns a lower-case k itself).
	if len(k) == len(nats.MsgIdHdr) && strings.EqualFold(k, nats.MsgIdHdr) {
		return nats.MsgIdHdr
	}
	lower := strings.ToLower(k)
	if strings.HasPrefix(lower, "ce-") || lower == events.HeaderContentType {
		return lower
	}
	return k
}

// Message turns a NATS message built by events.RawMsg or events.EventMsg into the watermill
// message a Publisher publishes on m.Subject: same ce-id (as UUID), headers, and body.
func Message(m *nats.Msg) *message.Message {
	md := make(message.Metadata, len(m.Header))
	for k, v := range m.Header {
		if len(v) > 0 {
			md[k] = strings.Join(v, ",")
		}
	}
	wm := message.NewMessage(m.Header.Get(events.HeaderID), m.Data)
	wm.Metadata = md
	return wm
}
