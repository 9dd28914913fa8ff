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
	h := nats.Header{}
	h[HeaderSpecVersion] = []string{"1.0"}
	h[HeaderID] = []string{r.ID}
	h[HeaderSource] = []string{r.Source()}
	h[HeaderType] = []string{r.Type()}
	h[HeaderTime] = []string{r.FetchedAt.UTC().Format(time.RFC3339Nano)}
	h[HeaderSubject] = []string{r.RecordID}
	h[HeaderContentType] = []string{"application/json"}
	h[HeaderFetchedAt] = []string{r.FetchedAt.UTC().Format(time.RFC3339Nano)}
	h[HeaderScope] = []string{r.Scope}
	h[HeaderResource] = []string{r.Resource}
	h[nats.MsgIdHdr] = []string{r.ID}
	return &nats.Msg{Subject: r.Subject(), Header: h, Data: r.Data}
}

// ParseRaw reads a raw record back from a message on raw.<provider>.<resource>.
func ParseRaw(subject string, h nats.Header, data []byte, seq uint64) (Raw, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "raw" || parts[1] == "" || parts[2] == "" {
		return Raw{}, fmt.Errorf("events: %q is not a raw subject (raw.<provider>.<resource>)", subject)
	}
	provider, resource := parts[1], parts[2]
	id := h.Get(HeaderID)
	if id == "" {
		return Raw{}, fmt.Errorf("events: raw message on %s has no %s header", subject, HeaderID)
	}
	fetched, _ := time.Parse(time.RFC3339Nano, h.Get(HeaderFetchedAt))
	return Raw{
		ID:        id,
		Provider:  provider,
		Resource:  resource,
		Scope:     h.Get(HeaderScope),
		RecordID:  h.Get(HeaderSubject),
		FetchedAt: fetched,
		Data:      data,
		Sequence:  seq,
	}, nil
}

// EventMsg builds the NATS message of a canonical event, with Nats-Msg-Id = ce-id.
func EventMsg(e Event) *nats.Msg {
	h := nats.Header{}
	h[HeaderSpecVersion] = []string{"1.0"}
	h[HeaderID] = []string{e.ID}
	h[HeaderSource] = []string{e.Source}
	h[HeaderType] = []string{e.CEType()}
	h[HeaderTime] = []string{e.Time.UTC().Format(time.RFC3339Nano)}
	h[HeaderSubject] = []string{e.Subject}
	h[HeaderDataSchema] = []string{e.DataSchema()}
	h[HeaderContentType] = []string{"application/json"}
	h[nats.MsgIdHdr] = []string{e.ID}
	return &nats.Msg{Subject: e.NATSSubject(), Header: h, Data: e.Data}
}
