package events

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Raw is one provider record as the poller publishes it on raw.<provider>.<resource>: the bytes
// exactly as the provider sent them, plus where they came from.
type Raw struct {
	ID        string // ce-id: RawID(Provider, Resource, RecordID, Data)
	Provider  string
	Resource  string
	Scope     string // account, organization, user, enterprise …
	RecordID  string // the provider's own id of the record (ce-subject)
	FetchedAt time.Time
	Data      []byte
	// Sequence is the RAW stream sequence the record was stored at; 0 before it is published.
	Sequence uint64
}

// Subject is the NATS subject the record is published on.
func (r Raw) Subject() string { return "raw." + r.Provider + "." + r.Resource }

// Type is the CloudEvents type of the record.
func (r Raw) Type() string { return "io.chargeline.raw." + r.Provider + "." + r.Resource }

// Source is the CloudEvents source of the record.
func (r Raw) Source() string { return "/providers/" + r.Provider + "/" + r.Scope }

// RawID is the deterministic id of a provider record: unchanged content gives the same id,
// changed content a new one (an update).
func RawID(provider, resource, recordID string, payload []byte) string {
	// The poller hashes every record: the payload is written as is, not copied into a string
	// and back, and the short parts go through a stack buffer.
	var buf [256]byte
	h := sha256.New()
	h.Write(appendParts(buf[:0], provider, resource, recordID))
	h.Write(payload)
	h.Write(partEnd[:])
	var sum [sha256.Size]byte
	return idText(h.Sum(sum[:0]))
}

// EventID is the deterministic id of a canonical event derived from a source record version.
func EventID(provider, typ, sourceID, sourceVersion string) string {
	var buf [256]byte
	h := sha256.New()
	h.Write(appendParts(buf[:0], provider, typ, sourceID, sourceVersion))
	var sum [sha256.Size]byte
	return idText(h.Sum(sum[:0]))
}

// partEnd ends each hashed part, so ("ab", "c") and ("a", "bc") differ.
var partEnd = [1]byte{0}

func appendParts(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, partEnd[:]...)
	}
	return b
}

// idText is the id of a digest: 128 bits, collision-free for any realistic volume and short
// enough for Nats-Msg-Id.
func idText(sum []byte) string {
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}
