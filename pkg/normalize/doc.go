// Package normalize turns raw provider records into canonical events; a record is acknowledged
// only after its events have their PubAck.
//
// One durable JetStream pull consumer per provider, normalizer-<provider> on RAW filtered to
// raw.<provider>.>, is shared by every replica, so each record is handled by one of them. A
// record the provider cannot map (events.ErrUnmappable, which includes events that break their
// JSON Schema's rules: events.NewEvent checks them), whose mapping panics, or whose events fail
// the optional validation against the schema documents (Config.SchemaValidation) goes to
// dlq.normalize.<provider> with the reason. A record whose events
// EVENTS cannot take (NATS unreachable, a PubAck timeout, the stream full: bus.ErrUnavailable) is
// redelivered after a growing delay until it can, and never dead-lettered: nothing is wrong with
// it. Any other failure is redelivered likewise, and after MaxDeliver deliveries it goes to the
// DLQ as "max deliveries exceeded".
//
// # Use
//
//	n, err := normalize.New(normalize.ConfigFrom(values), js, providers.All(), logger, registry)
//	…
//	err = n.Run(ctx) // nil once ctx is cancelled and in-flight records are settled
//
// # Failure routing
//
// The DLQ message keeps the raw record's body and headers and adds chargeline-error,
// chargeline-stage (normalize), chargeline-original-subject, chargeline-original-sequence and
// chargeline-attempts; its Nats-Msg-Id is "dlq-normalize-<raw ce-id>", so a record dead-lettered
// twice inside the duplicate window is stored once. The consumer itself allows unlimited
// deliveries, so JetStream never gives up on a record: a dead letter that could not be stored is
// tried again on the next delivery.
package normalize
