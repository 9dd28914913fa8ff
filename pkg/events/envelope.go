package events

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// CloudEvents NATS binary-mode attribute headers (lower case: NATS headers are case-sensitive
// and CloudEvents SDKs read them exactly like this), plus chargeline's extensions.
const (
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderSource      = "ce-source"
	HeaderType        = "ce-type"
	HeaderTime        = "ce-time"
	HeaderSubject     = "ce-subject"
	HeaderDataSchema  = "ce-dataschema"
	HeaderContentType = "content-type"
	HeaderFetchedAt   = "chargeline-fetched-at"
	// HeaderScope and HeaderResource repeat what ce-source and the subject say, so consumers need
	// not parse them.
	HeaderScope    = "chargeline-scope"
	HeaderResource = "chargeline-resource"
)

// RawMsg builds the NATS message of a raw record, with Nats-Msg-Id = ce-id.
func RawMsg(r Raw) *nats.Msg {
	// The poller builds one per record: the map is sized once, the time formatted once, and
	// every value slice cut from one backing array.
	fetched := r.FetchedAt.UTC().Format(time.RFC3339Nano)
	v := [...]string{"1.0", r.ID, r.Source(), r.Type(), fetched, r.RecordID, "application/json", fetched, r.Scope, r.Resource, r.ID}
	h := make(nats.Header, len(v))
	h[HeaderSpecVersion] = v[0:1:1]
	h[HeaderID] = v[1:2:2]
	h[HeaderSource] = v[2:3:3]
	h[HeaderType] = v[3:4:4]
	h[HeaderTime] = v[4:5:5]
	h[HeaderSubject] = v[5:6:6]
	h[HeaderContentType] = v[6:7:7]
	h[HeaderFetchedAt] = v[7:8:8]
	h[HeaderScope] = v[8:9:9]
	h[HeaderResource] = v[9:10:10]
	h[nats.MsgIdHdr] = v[10:11:11]
	return &nats.Msg{Subject: r.Subject(), Header: h, Data: r.Data}
}

// ParseRaw reads a raw record back from a message on raw.<provider>.<resource>.
func ParseRaw(subject string, h nats.Header, data []byte, seq uint64) (Raw, error) {
	return ParseRawFunc(subject, h.Get, data, seq)
}

// ParseRawFunc is ParseRaw reading the headers through get, for a consumer that holds them in
// another form than nats.Header (the normalizer's watermill metadata), so it need not build one.
func ParseRawFunc(subject string, get func(string) string, data []byte, seq uint64) (Raw, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "raw" || parts[1] == "" || parts[2] == "" {
		return Raw{}, fmt.Errorf("events: %q is not a raw subject (raw.<provider>.<resource>)", subject)
	}
	provider, resource := parts[1], parts[2]
	id := get(HeaderID)
	if id == "" {
		return Raw{}, fmt.Errorf("events: raw message on %s has no %s header", subject, HeaderID)
	}
	fetched, _ := time.Parse(time.RFC3339Nano, get(HeaderFetchedAt))
	return Raw{
		ID:        id,
		Provider:  provider,
		Resource:  resource,
		Scope:     get(HeaderScope),
		RecordID:  get(HeaderSubject),
		FetchedAt: fetched,
		Data:      data,
		Sequence:  seq,
	}, nil
}

// EventMsg builds the NATS message of a canonical event, with Nats-Msg-Id = ce-id.
func EventMsg(e Event) *nats.Msg {
	// The normalizer builds one per event: as RawMsg, the map sized once and every value slice
	// cut from one backing array.
	v := [...]string{"1.0", e.ID, e.Source, e.CEType(), e.Time.UTC().Format(time.RFC3339Nano), e.Subject, e.DataSchema(), "application/json", e.ID}
	h := make(nats.Header, len(v))
	h[HeaderSpecVersion] = v[0:1:1]
	h[HeaderID] = v[1:2:2]
	h[HeaderSource] = v[2:3:3]
	h[HeaderType] = v[3:4:4]
	h[HeaderTime] = v[4:5:5]
	h[HeaderSubject] = v[5:6:6]
	h[HeaderDataSchema] = v[6:7:7]
	h[HeaderContentType] = v[7:8:8]
	h[nats.MsgIdHdr] = v[8:9:9]
	return &nats.Msg{Subject: e.NATSSubject(), Header: h, Data: e.Data}
}
