// Package ops holds chargectl, the operator's CLI: stream, consumer and checkpoint status,
// checkpoint show/set/reset with compare-and-set, DLQ list/show/replay, ClickHouse migrations,
// backfills that never move a live checkpoint, and a per-day reconciliation of RAW, the
// canonical tables and the DLQ.
//
// # Promises
//
//   - Nothing is removed from the DLQ before its republish has a PubAck.
//   - A checkpoint is only written or deleted at the revision the operator saw (KV
//     compare-and-set); a poller's concurrent change is reported, never overwritten.
//   - A backfill publishes exactly what a poller would (same subjects, ce-id and Nats-Msg-Id)
//     and writes no checkpoint and takes no lease, so it can run beside the live poller.
//
// # Output and exit codes
//
// Every command prints a table (text/tabwriter) or, with --json, one JSON document on stdout;
// errors go to stderr. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error,
// 3 reconcile found days that are not ok, 4 a checkpoint changed concurrently.
//
// Main is the whole CLI; services/chargectl only passes it the process's arguments,
// environment and standard streams.
package ops
