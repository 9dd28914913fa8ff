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
	return hashID(provider, resource, recordID, string(payload))
}

// EventID is the deterministic id of a canonical event derived from a source record version.
func EventID(provider, typ, sourceID, sourceVersion string) string {
	return hashID(provider, typ, sourceID, sourceVersion)
}

func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	// 128 bits: collision-free for any realistic volume, and short enough for Nats-Msg-Id.
	return hex.EncodeToString(h.Sum(nil)[:16])
}
