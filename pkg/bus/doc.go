// Package bus connects to NATS and provisions chargeline's JetStream streams (RAW, EVENTS, DLQ)
// and key-value buckets (poller_checkpoints, poller_leases) idempotently: creating or updating
// them at every service start, so a fresh NATS needs no manual step.
package bus
