// Package events holds chargeline's canonical event types and the CloudEvents binary-mode
// envelope every message on the bus carries.
//
// Ids are deterministic: the same provider record always yields the same raw ce-id, and the
// same raw record always maps to the same canonical ce-id, so JetStream's duplicate window and
// the ClickHouse table keys absorb redeliveries and re-polls.
package events
