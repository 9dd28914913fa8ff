// Package bus connects to NATS, provisions chargeline's JetStream streams (RAW, EVENTS, DLQ)
// and key-value buckets (poller_checkpoints, poller_leases) idempotently — creating or updating
// them at every service start, so a fresh NATS needs no manual step — and wires watermill to
// JetStream: the CloudEvents binary-mode codec (Nats-Msg-Id = ce-id), a publisher that waits
// for the PubAck, a pull subscriber on a durable consumer, and the DLQ middleware that
// dead-letters unmappable records with the reason and redelivers everything else with a delay.
package bus
